"""The self-service team pages: /teams/ and /teams/<id>/, members and roles."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from teams.models import Membership, Role, Team

pytestmark = pytest.mark.django_db


def test_my_teams_lists_only_mine_with_my_role(signed_in, cat, support, sales):
    text = signed_in(cat).get(reverse("teams:list")).content.decode()
    assert "Sales" in text and "Member" in text and "Support" not in text


def test_anyone_creates_a_team_and_becomes_its_admin_names_compared_normalised(signed_in, cat):
    client = signed_in(cat)
    response = client.post(reverse("teams:list"), {"name": "Billing"})
    team = Team.objects.get(name="Billing")
    assert response.url == reverse("teams:detail", args=[team.pk])
    assert Membership.objects.get(team=team).role == Role.ADMIN
    again = client.post(reverse("teams:list"), {"name": "\uff22ILLING"})
    assert again.status_code == 200 and "already exists" in again.content.decode()
    assert Team.objects.count() == 1


def test_another_teams_page_answers_404(signed_in, ann, sales):
    client = signed_in(ann)
    assert client.get(reverse("teams:detail", args=[sales.pk])).status_code == 404
    member = Membership.objects.filter(team=sales).first()
    for name, args in [
        ("member_add", [sales.pk]),
        ("member_role", [sales.pk, member.pk]),
        ("member_remove", [sales.pk, member.pk]),
        ("alerts", [sales.pk]),
    ]:
        assert (
            client.post(reverse(f"teams:{name}", args=args), {"person": "ann"}).status_code == 404
        )
    assert Membership.objects.filter(team=sales).count() == 3


def test_admins_add_by_username_or_email_change_roles_and_remove(signed_in, dan, ann, sales):
    client = signed_in(dan)
    client.post(reverse("teams:member_add", args=[sales.pk]), {"person": "ANN@example.com",
                                                               "role": "member"})  # fmt: skip
    ann_in = Membership.objects.get(team=sales, user=ann)
    assert ann_in.role == Role.MEMBER
    client.post(reverse("teams:member_role", args=[sales.pk, ann_in.pk]), {"role": "admin"})
    assert Membership.objects.get(pk=ann_in.pk).role == Role.ADMIN
    client.post(reverse("teams:member_remove", args=[sales.pk, ann_in.pk]))
    assert not Membership.objects.filter(pk=ann_in.pk).exists()
    unknown = client.post(
        reverse("teams:member_add", args=[sales.pk]), {"person": "nobody", "role": "member"},
        follow=True,
    )  # fmt: skip
    assert "Nobody has this username or email address." in unknown.content.decode()


def test_members_may_not_manage_members(signed_in, cat, dan, sales):
    client = signed_in(cat)
    dans = Membership.objects.get(team=sales, user=dan)
    assert client.post(reverse("teams:member_remove", args=[sales.pk, dans.pk])).status_code == 404
    assert Membership.objects.filter(pk=dans.pk).exists()


def test_a_team_always_keeps_an_admin(signed_in, dan, sales):
    client = signed_in(dan)
    dans = Membership.objects.get(team=sales, user=dan)
    demoted = client.post(
        reverse("teams:member_role", args=[sales.pk, dans.pk]), {"role": "member"}, follow=True
    )
    assert "always keeps at least one admin" in demoted.content.decode()
    left = client.post(reverse("teams:member_remove", args=[sales.pk, dans.pk]), follow=True)
    assert "always keeps at least one admin" in left.content.decode()
    assert Membership.objects.get(pk=dans.pk).role == Role.ADMIN


def test_the_admin_keeps_one_admin_too(operator_client, sales):
    memberships = list(Membership.objects.filter(team=sales).order_by("pk"))
    data = {
        "name": "Sales",
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for n, m in enumerate(memberships):
        prefix = f"memberships-{n}-"
        data |= {f"{prefix}id": str(m.pk), f"{prefix}team": str(sales.pk),
                 f"{prefix}user": str(m.user_id), f"{prefix}role": "member"}  # fmt: skip
    response = operator_client.post(f"/admin/teams/team/{sales.pk}/change/", data)
    assert (
        response.status_code == 200
        and "always keeps at least one admin" in response.content.decode()
    )
    assert Membership.objects.filter(team=sales, role=Role.ADMIN).count() == 1


def test_a_member_opts_in_to_the_teams_alerts(signed_in, cat, sales):
    signed_in(cat).post(reverse("teams:alerts", args=[sales.pk]), {"alerts": "on"})
    assert Membership.objects.get(team=sales, user=cat).alerts is True
    signed_in(cat).post(reverse("teams:alerts", args=[sales.pk]), {})
    assert Membership.objects.get(team=sales, user=cat).alerts is False


def test_createteam_creates_and_updates_members(ann, bob, cat, capsys):
    call_command("createteam", "Ops", "--admin", "ann", "--member", "bob", "--member", "cat")
    team = Team.objects.get(name="Ops")
    assert dict(team.memberships.values_list("user__username", "role")) == {
        "ann": "admin", "bob": "member", "cat": "member"
    }  # fmt: skip
    assert "Created team 'Ops': 1 admin, 2 members." in capsys.readouterr().out
    call_command("createteam", "ops", "--admin", "bob", "--update")
    assert "Updated team 'Ops': 1 admin, 0 members." in capsys.readouterr().out
    assert dict(team.memberships.values_list("user__username", "role")) == {"bob": "admin"}
    with pytest.raises(CommandError, match="exists already"):
        call_command("createteam", "OPS", "--admin", "ann")
    with pytest.raises(CommandError, match="at least one --admin"):
        call_command("createteam", "Other")
    with pytest.raises(CommandError, match="no user is named 'zed'"):
        call_command("createteam", "Other", "--admin", "zed")
    assert Team.objects.count() == 1


def test_a_deactivated_person_cannot_be_added(signed_in, dan, ann, sales):
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    refused = signed_in(dan).post(
        reverse("teams:member_add", args=[sales.pk]), {"person": "ann", "role": "member"},
        follow=True,
    )  # fmt: skip
    assert "Nobody has this username or email address." in refused.content.decode()
    assert not Membership.objects.filter(team=sales, user=ann).exists()
