"""The customer's routes on the public port: the portal, new links, direct PDF links and the
survey, each answered by its module after the client's rate limit (`CustomerSide.answer`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bridge.portal import short_links
from bridge.portal.new_links import NewLinkPages
from bridge.portal.portal_pages import PortalPages
from bridge.portal.side import CustomerSide
from bridge.portal.survey_pages import SurveyPages
from bridge.services import Services

ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a form without its CSRF pair, or bad input: the form again"},
    404: {"description": "not a link of ours"},
    410: {"description": "expired or revoked: the page offers a new link (or says closed)"},
    429: {"description": "too many requests from this client"},
}


def customer_routes(services: Services) -> APIRouter:
    side = CustomerSide(services)
    portal, new_links, survey = PortalPages(side), NewLinkPages(side), SurveyPages(side)
    router = APIRouter(responses=ANSWERS)

    @router.get("/portal/{token}")
    def documents_page(request: Request, token: str) -> Response:
        return side.answer(request, lambda locale: portal.documents_page(request, token, locale))

    @router.get("/portal/{token}/documents/{filename:path}")
    def portal_download(request: Request, token: str, filename: str) -> Response:
        return side.answer(
            request, lambda locale: portal.portal_download(request, token, filename, locale)
        )

    @router.post("/portal/renew")
    def renew(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
        return side.answer(request, lambda locale: new_links.renew(request, token, csrf, locale))

    @router.get("/portal/request/{shop}")
    def request_form(request: Request, shop: str) -> Response:
        return side.answer(request, lambda locale: new_links.request_form(request, shop, locale))

    @router.post("/portal/request/{shop}")
    def request_link(
        request: Request, shop: str, email: str = Form(""), csrf: str = Form("")
    ) -> Response:
        return side.answer(
            request, lambda locale: new_links.request_link(request, shop, email, csrf, locale)
        )

    # `path`: invoice numbers may contain "/" (allowed by BR-FR-01), encoded as %2F in links.
    @router.get("/invoices/{filename:path}", responses={403: {"description": "not signed"}})
    def document_link(request: Request, filename: str, t: str = "") -> Response:
        return side.answer(
            request, lambda locale: portal.document_link(request, filename, t, locale)
        )

    # The short link of a text message: a redirect to the signed link it stands for.
    @router.get("/l/{code}", responses={303: {"description": "to the signed link"}})
    def short_link(request: Request, code: str) -> Response:
        def page(locale: str) -> Response:
            return short_links.follow(services.store, code) or side.invalid(locale)

        return side.answer(request, page)

    @router.get("/survey/{token}")
    def survey_form(request: Request, token: str, score: str = "") -> Response:
        return side.answer(request, lambda locale: survey.form(request, token, score, locale))

    @router.post("/survey/{token}")
    def survey_submit(
        request: Request,
        token: str,
        score: str = Form(""),
        comment: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        return side.answer(
            request, lambda locale: survey.submit(request, token, score, comment, csrf, locale)
        )

    return router
