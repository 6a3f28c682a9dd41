"""Stored credentials for protected docs: written once, never read back."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from scrape_api_docs.api.dependencies import CallerDep, KeyedRoute, ServiceDep
from scrape_api_docs.api.models.requests import AuthType, CredentialRequest
from scrape_api_docs.api.models.responses import CredentialInfo, CredentialList
from scrape_api_docs.errors import InvalidOptionsError
from scrape_api_docs.jobs.auth import headers_for, normalise_domain
from scrape_api_docs.storage.tables import Credential
from scrape_api_docs.times import as_utc

router = APIRouter(route_class=KeyedRoute)


def info(credential: Credential) -> CredentialInfo:
    return CredentialInfo(
        credential_id=credential.id,
        domain=credential.domain,
        auth_type=credential.auth_type,
        created_at=credential.created_at,
        expires_at=credential.expires_at,
    )


def _checked(body: CredentialRequest) -> tuple[str, datetime | None]:
    """The normalised domain and expiry, or a 422 that names the field (never a value)."""
    if body.auth_type is AuthType.NONE:
        raise InvalidOptionsError(
            "auth_type 'none' stores nothing; use basic, bearer, api_key or cookie",
            details={"field": "auth_type"},
        )
    domain = normalise_domain(body.domain)
    expires_at = body.expires_at
    if expires_at is not None:
        expires_at = as_utc(expires_at)
        if expires_at <= datetime.now(UTC):
            raise InvalidOptionsError(
                "expires_at is in the past; the credential would never be used",
                details={"field": "expires_at"},
            )
    headers_for(body.auth_type.value, body.credentials)
    return domain, expires_at


@router.post("/credentials", status_code=status.HTTP_201_CREATED, response_model=CredentialInfo)
async def add_credential(
    body: CredentialRequest, who: CallerDep, svc: ServiceDep
) -> CredentialInfo:
    """Store credentials for one exact domain (``host`` or ``host:port``), encrypted.
    They are applied to crawls of that domain only and never returned."""
    domain, expires_at = _checked(body)
    credential = await svc.add_credential(
        who.owner, domain, body.auth_type.value, body.credentials, expires_at
    )
    return info(credential)


@router.get("/credentials", response_model=CredentialList)
async def list_credentials(who: CallerDep, svc: ServiceDep) -> CredentialList:
    """The caller's credentials: domain, type and dates, never the secrets."""
    return CredentialList(credentials=[info(c) for c in await svc.credentials(who.owner)])


@router.delete("/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(credential_id: str, who: CallerDep, svc: ServiceDep) -> Response:
    """Delete one of the caller's credentials; another caller's is 404, as if absent."""
    await svc.delete_credential(who.owner, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
