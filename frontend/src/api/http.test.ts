import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, query, readCookie, request, rowsOf, setFetch } from "./http";

afterEach(() => setFetch((...args) => fetch(...args)));

describe("http", () => {
  it("reads Django's csrftoken cookie", () => {
    expect(readCookie("csrftoken", "sessionid=abc; csrftoken=T0K%3Den; x=1")).toBe("T0K=en");
    expect(readCookie("csrftoken", "sessionid=abc")).toBeNull();
  });

  it("sends JSON with the CSRF header on writes, same-origin credentials", async () => {
    const fake = vi.fn(async () => new Response(JSON.stringify({ ok: 1 }), { status: 201 }));
    setFetch(fake as unknown as typeof fetch);
    await expect(request("POST", "/api/x/", { a: 1 })).resolves.toEqual({ ok: 1 });
    const [url, init] = fake.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/x/");
    expect(init.credentials).toBe("same-origin");
    const headers = init.headers as Record<string, string>;
    expect(headers["Content-Type"]).toBe("application/json");
    expect("X-CSRFToken" in headers).toBe(true);
    expect(init.body).toBe('{"a":1}');
  });

  it("turns the project's error shape into ApiError (409 with extra)", async () => {
    setFetch((async () => new Response(JSON.stringify({ message: "Another revision was saved", extra: { head_revision: { id: 9 } } }), { status: 409 })) as unknown as typeof fetch);
    const error = (await request("POST", "/api/x/", {}).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(409);
    expect(error.isConflict).toBe(true);
    expect(error.message).toBe("Another revision was saved");
    expect((error.extra.head_revision as { id: number }).id).toBe(9);
  });

  it("keeps the status line when the body is not JSON; network errors are status 0", async () => {
    setFetch((async () => new Response("<html>", { status: 502, statusText: "Bad Gateway" })) as unknown as typeof fetch);
    await expect(request("GET", "/x")).rejects.toMatchObject({ status: 502, message: "502 Bad Gateway" });
    setFetch((async () => {
      throw new TypeError("offline");
    }) as unknown as typeof fetch);
    await expect(request("GET", "/x")).rejects.toMatchObject({ status: 0 });
  });

  it("reads list pages and builds query strings", () => {
    expect(rowsOf({ count: 1, results: [1] })).toEqual([1]);
    expect(rowsOf([2])).toEqual([2]);
    expect(rowsOf(null)).toEqual([]);
    expect(query({ status: "pending", cohort: "", page: 2, x: null })).toBe("?status=pending&page=2");
    expect(query({})).toBe("");
  });
});
