"""The plan and payment steps of the wizard and the way to Stripe's Billing Portal. Stripe's
webhook is billing's own (apiup.urls)."""

from django.urls import path

from web import billing_views as views

app_name = "billing"

urlpatterns = [
    path("plan/", views.PlanView.as_view(), name="plan"),
    path("plan/add/", views.PlanAddView.as_view(), name="plan_add"),
    path("payment/", views.PaymentView.as_view(), name="payment"),
    path("payment/checkout/", views.CheckoutStartView.as_view(), name="checkout"),
    path("payment/confirming/", views.PaymentPendingView.as_view(), name="payment_pending"),
    path("portal/", views.BillingPortalView.as_view(), name="portal"),
]
