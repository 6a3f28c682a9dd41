"""Stored credentials for protected docs: written once, never read back."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from scrape_api_docs.api.dependencies import CallerDep, ServiceDep
from scrape_api_docs.api.models.requests import CredentialRequest
from scrape_api_docs.api.models.responses import CredentialInfo, CredentialList
from scrape_api_docs.api.routers.views import utc
from scrape_api_docs.storage.tables import Credential

router = APIRouter()


def info(credential: Credential) -> CredentialInfo:
    return CredentialInfo(
        credential_id=credential.id,
        domain=credential.domain,
        auth_type=credential.auth_type,
        created_at=utc(credential.created_at) or credential.created_at,
        expires_at=utc(credential.expires_at),
    )


@router.post("/credentials", status_code=status.HTTP_201_CREATED, response_model=CredentialInfo)
async def add_credential(
    body: CredentialRequest, who: CallerDep, svc: ServiceDep
) -> CredentialInfo:
    """Store credentials for one exact domain (``host`` or ``host:port``), encrypted.
    They are applied to crawls of that domain only and never returned."""
    credential = await svc.add_credential(
        who.owner, body.domain, body.auth_type.value, body.credentials, body.expires_at
    )
    return info(credential)


@router.get("/credentials", response_model=CredentialList)
async def list_credentials(who: CallerDep, svc: ServiceDep) -> CredentialList:
    return CredentialList(credentials=[info(c) for c in await svc.credentials(who.owner)])


@router.delete("/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(credential_id: str, who: CallerDep, svc: ServiceDep) -> Response:
    await svc.delete_credential(who.owner, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
