from conftest import sign_up


async def test_sign_up_and_me(client):
    a = await sign_up(client, "alice")
    resp = await client.get("/v1/users/me", headers=a.headers)
    assert resp.status == 200
    assert (await resp.json())["username"] == "alice"
