"""sevDesk stand-in (`sandbox.sevdesk.app:SevdeskSandbox`)."""
