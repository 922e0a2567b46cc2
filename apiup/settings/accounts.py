"""Users, registration and login (django-allauth)."""

from .env import env

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "account_login"
# After signing in, and after the registration steps: the first unfinished step of the setup
# wizard (web), which is the dashboard once the setup is done. Named here, in the wiring, so
# that accounts need not know the pages above it.
LOGIN_REDIRECT_URL = "setup:continue"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.TermsSignupForm"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_UNIQUE_EMAIL = True
# Mandatory, so that signing up with a registered address answers exactly like a new one
# (allauth mails the owner of that address instead): enumeration prevention needs it. The
# company data follow once the link in the mail is opened (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[APIUP] "
# Failed logins are counted per address and per client IP whether or not the account
# exists, so the answer never tells which addresses are registered.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
}
# Behind a proxy every request arrives from the proxy's address: counted by that address, ten
# failed logins by anyone would lock every customer out. The per-IP limits count the client
# the trusted proxies name instead: the entry TRUSTED_PROXY_COUNT places from the end of
# X-Forwarded-For (the entries before it are the client's to forge), or the header one proxy
# sets alone (TRUSTED_CLIENT_IP_HEADER, e.g. X-Real-IP). Production counts one proxy.
ALLAUTH_TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER: str | None = (
    env.str("TRUSTED_CLIENT_IP_HEADER", default="") or None
)

# A refused signup keeps what was typed, so the password rule shown under the field can be
# followed without typing both passwords again.
ACCOUNT_PASSWORD_INPUT_RENDER_VALUE = True

# Invitations to join a company (accounts.services.invitation_create): how long the mailed link
# holds, and how many invitations one company may send per hour.
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=7)
INVITATIONS_PER_HOUR = env.int("INVITATIONS_PER_HOUR", default=10)

TERMS_VERSION = env.str("TERMS_VERSION", default="2026-11")
# The operator's own terms and privacy pages; empty: the placeholder pages under /legal/.
LEGAL_TERMS_URL = env.str("LEGAL_TERMS_URL", default="")
LEGAL_PRIVACY_URL = env.str("LEGAL_PRIVACY_URL", default="")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="APIUP <no-reply@apiup.local>")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
if env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
