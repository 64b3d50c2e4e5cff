"""Password reset by email for members and operators: Django's views, FrontConnect's pages.

The link in the email is built from FRONTCONNECT_BASE_URL, never from the request's Host
header, so a forged Host cannot send someone a link to another site. Whether an address is
known is never told: the same page follows every request (Django's PasswordResetView).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from common.preferences import reading_as


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, each email in its recipient's language (saved, else the page's)."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        # Without a saved language, the one of the page where the link was asked for.
        with reading_as(context.get("user"), language_default=translation.get_language()):
            super().send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name=html_email_template_name,
            )


class PasswordResetView(auth_views.PasswordResetView):
    """Email a link to set a new password to the active accounts with that address."""

    form_class = PasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        # Django's own form_valid would take the domain from the request's Host header.
        base = urlsplit(settings.FRONTCONNECT_BASE_URL)
        form.save(
            domain_override=base.netloc,
            use_https=base.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            html_email_template_name=self.html_email_template_name,
            extra_email_context=self.extra_email_context,
        )
        return HttpResponseRedirect(self.get_success_url())


@method_decorator(sensitive_post_parameters("new_password1", "new_password2"), name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Set a new password from the emailed link (one use, expires: PASSWORD_RESET_TIMEOUT)."""

    success_url = reverse_lazy("password_reset_complete")
