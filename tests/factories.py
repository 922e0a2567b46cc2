import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import Role, Tenant, User
from connectors.models import Connection
from sync.models import Transfer


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    company_name = factory.Sequence(lambda n: f"Beispiel GmbH {n}")
    street = "Hauptstraße"
    house_number = "1"
    postcode = "10115"
    city = "Berlin"
    country = "DE"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.django.Password("correct horse battery staple")
    tenant = factory.SubFactory(TenantFactory)
    # Each factory user registers a company of their own, so they own it.
    role = Role.OWNER
    terms_accepted_at = factory.LazyFunction(timezone.now)
    terms_version = "2026-11"

    @factory.post_generation
    def verified(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        if create:
            EmailAddress.objects.create(
                user=self, email=self.email, primary=True, verified=extracted is not False
            )


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    tenant = factory.SubFactory(TenantFactory)
    system = "lexoffice"
    account_name = factory.Sequence(lambda n: f"Buchhaltung {n}")
    credentials = factory.LazyFunction(lambda: {"api_key": "lx-secret-api-key-0123456789"})


class TransferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transfer

    tenant = factory.SubFactory(TenantFactory)
    kind = Transfer.Kind.QUOTE
    object_type = Transfer.ObjectType.DEAL
    object_id = factory.Sequence(lambda n: str(9000 + n))
    system = "lexoffice"
    state = Transfer.State.FAILED
    title = "Fremde Buchhaltung AG Angebot"
    error = "lexware office answered 406"
