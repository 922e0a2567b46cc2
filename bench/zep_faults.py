"""The ZEP mix of the fault runs (`bench.faults --zep`): every tenant has two plans, lexware
office and ZEP, and each won deal becomes a lexware office quote and a ZEP project of its
company, the company a ZEP customer. Under a fault, the run ends with exactly one ZEP customer
per company and one ZEP project per deal, read from the ZEP sandbox (by instance), and one
quote per deal in lexware office.

    .venv/bin/python -m bench.faults --zep --deals 30 --tenants 3

Runs: duplicates (every webhook batch delivered three times, two of them at once),
drop-after-commit (10 % of ZEP's creations of customers and projects commit and then
drop the answer), sigkill (a worker's pool process killed with SIGKILL every 10 s).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.common import (
    QUICK_RESUME,
    DealRef,
    Stack,
    Tally,
    Vendors,
    seed_deals,
    tally,
    wait_for,
    win,
    world,
)

if TYPE_CHECKING:
    from bench.faults import RunOptions

ZEP_RUNS = ["duplicates", "drop-after-commit", "sigkill"]
PROJECT_STAGE = "closedwon"
ZEP_EVENTS: list[str | dict[str, Any]] = ["deal.creation", "deal.propertyChange"]


def _instance(portal_id: int) -> str:
    return f"bench{portal_id}"


@dataclass
class ZepTally:
    deals: int
    companies: int
    customers: int  # ZEP customers of the run's companies (duplicates included)
    customer_duplicates: int
    projects: int  # ZEP projects of the run's deals (duplicates included)
    project_duplicates: int
    projects_without_customer: int  # a project whose customer is not its company's
    lost: int  # deals with no project, no visible failure and no work left
    failures_shown: int
    unfinished: int
    quotes: Tally  # the lexware office side of the same deals
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            self.customers == self.companies
            and self.customer_duplicates == 0
            and self.projects == self.deals
            and self.project_duplicates == 0
            and self.projects_without_customer == 0
            and self.lost == 0
            and self.unfinished == 0
            and self.quotes.passed
        )

    def line(self, name: str) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"zep {name:<24} deals {self.deals:>4}  customers {self.customers:>3}/"
            f"{self.companies:<3} projects {self.projects:>4}  duplicates "
            f"{self.customer_duplicates}+{self.project_duplicates}  lost {self.lost:>2}  "
            f"failures shown {self.failures_shown:>2}  unfinished {self.unfinished:>2}  "
            f"quotes {self.quotes.quotes:>4} (dup {self.quotes.duplicates}, lost "
            f"{self.quotes.lost})  time {self.seconds:6.1f} s  {verdict}"
        )


def zep_connect(vendors: Vendors, zep: Any) -> None:
    """Each tenant's second plan: its own ZEP instance, connected, ZEP's plan paid, and won
    deals chosen to become projects."""
    from accounts.models import Tenant
    from billing.models import Subscription
    from connectors.models import Connection
    from sync.services.transfer_settings import transfer_settings_update

    for handle in vendors.tenants:
        instance = _instance(handle.portal_id)
        tokens = (f"rest-{instance}", f"soap-{instance}")
        zep.sandbox.instances[instance] = tokens
        # The field encrypts a JSON object; its type hint only knows the stored text.
        credentials: Any = {"instance": instance, "api_token": tokens[0], "soap_token": tokens[1]}
        Connection.objects.create(
            tenant_id=handle.tenant_id,
            system="zep",
            external_account_id=instance,
            account_name=f"ZEP {instance}",
            credentials=credentials,
        )
        Subscription.objects.create(
            tenant_id=handle.tenant_id,
            plan="zep",
            kind=Subscription.Kind.TIME_TRACKING,
            status=Subscription.Status.ACTIVE,
        )
        transfer_settings_update(
            tenant=Tenant.objects.get(pk=handle.tenant_id), project_stage_ids=PROJECT_STAGE
        )


def _project_transfers(deals: list[DealRef]) -> Any:
    from sync.models import Transfer

    return Transfer.objects.filter(
        kind=Transfer.Kind.PROJECT,
        tenant_id__in={d.tenant_id for d in deals},
        object_id__in=[d.deal_id for d in deals],
    )


def zep_settled(deals: list[DealRef]) -> bool:
    """Every deal's project transfer and quote transfer has no work left."""
    from bench.common import settled
    from sync.models import Transfer

    projects = _project_transfers(deals).exclude(state__in=Transfer.ACTIVE_STATES)
    return projects.count() >= len(deals) and settled(deals)


def zep_tally(vendors: Vendors, zep: Any, deals: list[DealRef], *, seconds: float) -> ZepTally:
    """Read from the ZEP sandbox, instance by instance: the customers of each tenant's one
    company (number = its HubSpot id) and the projects (name = the deal id)."""
    from sync.models import Transfer

    store = zep.sandbox.store
    instances = {_instance(d.portal_id): d.portal_id for d in deals}
    customers = [(o, r) for o, r in store.everything("customers") if o in instances]
    projects = [(o, r) for o, r in store.everything("projects") if o in instances]
    customer_counts = Counter((o, str(r["customer_number"])) for o, r in customers)
    project_counts = Counter((o, str(r["name"])) for o, r in projects)
    companies = {
        (_instance(d.portal_id), company_id)
        for d in deals
        for company_id in vendors.hubspot.sandbox.linked(
            d.portal_id, "deals", d.deal_id, "companies"
        )
    }
    customer_ids = {(o, r["id"]): (o, str(r["customer_number"])) for o, r in customers}
    company_of = {
        d.deal_id: (
            _instance(d.portal_id),
            str(
                next(
                    iter(
                        vendors.hubspot.sandbox.linked(d.portal_id, "deals", d.deal_id, "companies")
                    )
                )
            ),
        )
        for d in deals
    }
    wrong_customer = sum(
        1
        for o, r in projects
        if customer_ids.get((o, r.get("customer_id"))) != company_of.get(str(r["name"]))
    )
    transfers = list(_project_transfers(deals).values_list("object_id", "state", "error"))
    failed = {oid for oid, state, error in transfers if state == Transfer.State.FAILED and error}
    active = {oid for oid, state, _ in transfers if state in Transfer.ACTIVE_STATES}
    lost = sum(
        1
        for d in deals
        if project_counts.get((_instance(d.portal_id), d.deal_id), 0) == 0
        and d.deal_id not in failed
        and d.deal_id not in active
    )
    return ZepTally(
        deals=len(deals),
        companies=len(companies),
        customers=sum(n for key, n in customer_counts.items() if key in companies),
        customer_duplicates=sum(n - 1 for n in customer_counts.values() if n > 1),
        projects=sum(project_counts.get((_instance(d.portal_id), d.deal_id), 0) for d in deals),
        project_duplicates=sum(n - 1 for n in project_counts.values() if n > 1),
        projects_without_customer=wrong_customer,
        lost=lost,
        failures_shown=len(failed),
        unfinished=len(active),
        quotes=tally(vendors, deals, seconds=seconds),
        seconds=seconds,
    )


@contextmanager
def zep_world(running: Stack, options: RunOptions) -> Iterator[tuple[Vendors, Any, Any]]:
    """The run's world (HubSpot and lexware office sandboxes, tenants, workers) with a ZEP
    sandbox beside it, its address given to the workers."""
    from sandbox.core import serve
    from sandbox.zep.app import ZepSandbox

    zep = serve(ZepSandbox())
    worker_env = {**QUICK_RESUME, "ZEP_API_URL": zep.url + "/{instance}/next/api/v1"}
    try:
        with world(
            running,
            tenants=options.tenants,
            workers=options.workers,
            first_portal=options.first_portal,
            worker_env=worker_env,
            subscriptions=ZEP_EVENTS,
        ) as (vendors, pool):
            zep_connect(vendors, zep)
            yield vendors, pool, zep
    finally:
        zep.stop()


def run_zep(name: str, running: Stack, options: RunOptions) -> ZepTally:
    """Seeds the deals, switches the fault on, wins them all and waits until every project
    and quote transfer has settled (or the timeout); prints the tally and ZEP's answers."""
    from bench.faults import Killer, deliver_three_times

    with zep_world(running, options) as (vendors, pool, zep):
        if name == "duplicates":
            deliver_three_times(vendors)
        deals = seed_deals(vendors, options.deals, prefix=f"{name}-zep")
        if name == "drop-after-commit":
            zep.sandbox.faults.update({"drop_after_commit_rate": 0.1})
        killer = Killer(pool, every=10.0) if name == "sigkill" else None
        if killer is not None:
            killer.start()
        started = time.monotonic()
        win(vendors, deals)
        finished = wait_for(lambda: zep_settled(deals), timeout=options.timeout, interval=0.5)
        seconds = time.monotonic() - started
        if killer is not None:
            killer.stop()
        result = zep_tally(vendors, zep, deals, seconds=seconds)
        note = "" if finished else "  (not finished in time)"
        if killer is not None:
            note += f"  ({killer.kills} pool processes killed)"
        print(result.line(name) + note, flush=True)
        calls = zep.sandbox.api_calls()
        statuses = Counter(call.status for call in calls)
        print(
            f"    ZEP calls {len(calls)} by status {dict(sorted(statuses.items()))}; "
            f"webhook deliveries {len(vendors.hubspot.sandbox.webhooks.snapshot())}",
            flush=True,
        )
        return result


def zep_main(args: argparse.Namespace) -> None:
    """`bench.faults --zep`: the ZEP runs named in --runs (all of them unless named)."""
    from bench.faults import RUNS, run_mix

    runs = [name for name in args.runs if name in ZEP_RUNS]
    if args.runs == RUNS or not runs:
        runs = ZEP_RUNS
    run_mix(
        args,
        header=(
            f"ZEP runs: {args.deals} deals over {args.tenants} tenants (lexware office and ZEP "
            f"each), {args.workers} workers"
        ),
        runs=[(name, "", run_zep) for name in runs],
        first_portal=8001,
        stack_prefix="zep-",
    )
