"""``/docs`` works offline: Swagger UI comes from a package, never from a CDN."""

from __future__ import annotations

import re

import httpx


async def test_the_docs_page_loads_its_assets_from_the_api_itself(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    assert all(asset.startswith("/") for asset in assets), assets  # none from another host
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000 or asset.endswith(".png"), asset
    assert "cdn." not in page.text


async def test_the_schema_the_docs_page_reads_is_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Tandem API"
