"""`quittance portal link|revoke`: a customer's portal link for the support desk, and the end
of every link a customer holds (a leaked email, a shared mailbox)."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli.app import ConfigOption, ShopOption, app, console, err_console, services_for

portal_app = typer.Typer(help="The customers' portal links.", no_args_is_help=True)
app.add_typer(portal_app, name="portal")

EmailArgument = Annotated[str, typer.Argument(help="The customer's email address.")]


@portal_app.command("link")
def link_command(
    email: EmailArgument,
    shop: ShopOption,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Days it works. Default: [portal] renewal_link_days."),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Email it to the address on file instead of printing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """A fresh link to the customer's portal (their documents of this shop).

    Example: `quittance portal link marie@example.fr --shop boutique --send -c quittance.toml`
    """
    from bridge.portal.links import CustomerLinks

    svc = services_for(config)
    try:
        customer = _customer_or_exit(svc, shop, email)
        days = days or svc.settings.portal.renewal_link_days
        links = CustomerLinks(svc.settings, svc.store)
        if not links.portal_on:
            err_console.print(
                "the portal is off: set [server] public_url and link_secret, and [portal] "
                "enabled = true"
            )
            raise typer.Exit(2)
        if send:
            job = svc.store.enqueue(
                "portal_link", {"customer_id": customer.id, "days": days},
                dedupe_key=f"portal_link:{customer.id}:cli:{svc.store.clock():%Y%m%d%H%M%S}",
                shop=shop,
            )  # fmt: skip
            console.print(f"queued: job {job} emails a {days}-day link to the address on file")
        else:
            console.print(links.portal_url(customer, days=days), highlight=False)
    finally:
        svc.close()


@portal_app.command("revoke")
def revoke_command(email: EmailArgument, shop: ShopOption, config: ConfigOption = None) -> None:
    """Stop every portal and PDF link the customer holds (they can ask for a new one, sent to
    the address on file).

    Example: `quittance portal revoke marie@example.fr --shop boutique -c quittance.toml`
    """
    svc = services_for(config)
    try:
        _customer_or_exit(svc, shop, email)
        generation = svc.store.revoke_customer_links(shop, email)
        svc.store.append_event(
            "portal.revoked", shop=shop, detail={"generation": generation, "by": "cli"}
        )
        console.print(f"revoked: every link of {email} for {shop} stops now")
    finally:
        svc.close()


def _customer_or_exit(svc, shop: str, email: str):  # -> CustomerRecord
    customer = svc.store.customer(shop, email)
    if customer is None:
        err_console.print(
            f"no customer {email!r} in shop {shop!r}: the address of a document's buyer "
            "(check the spelling, or `quittance status`)"
        )
        raise typer.Exit(2)
    return customer
