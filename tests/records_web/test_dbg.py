def test_x(client, world, catalog_loaded, login):
    csrf = login(client, "officer_a")
    r = client.post("/workspace/upload", data={"csrf_token": csrf, "item": "admin_penalty"}, files={"file": ("a.csv", "姓名,来源编号\r\n张三,1\r\n".encode(), "text/csv")})
    i = r.text.find('form-error')
    print(r.status_code, r.text[i-20:i+1500])
    assert 0
