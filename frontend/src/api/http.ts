/**
 * JSON over fetch with the session cookie and Django's CSRF header on writes. Every API error has
 * the project's one shape, `{"message": str, "extra": {...}}`; it surfaces as {@link ApiError}.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  get isConflict(): boolean {
    return this.status === 409;
  }
}

export function readCookie(name: string, cookie: string = typeof document === "undefined" ? "" : document.cookie): string | null {
  for (const part of cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** The CSRF token: the csrftoken cookie, else the token the page template rendered. */
export function csrfToken(): string {
  const fromCookie = readCookie("csrftoken");
  if (fromCookie) return fromCookie;
  const meta = typeof document === "undefined" ? null : document.querySelector<HTMLMetaElement>("meta[name=csrf-token]");
  return meta?.content ?? "";
}

export type Fetch = typeof fetch;

let fetchImpl: Fetch = (...args) => fetch(...args);

/** Replace fetch (tests). */
export function setFetch(impl: Fetch): void {
  fetchImpl = impl;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let extra: Record<string, unknown> = {};
  try {
    const body = await response.json();
    if (body && typeof body === "object") {
      if (typeof body.message === "string") message = body.message;
      else if (typeof body.detail === "string") message = body.detail;
      if (body.extra && typeof body.extra === "object") extra = body.extra;
    }
  } catch {
    // not JSON (a proxy page, an HTML 500): keep the status line
  }
  return new ApiError(response.status, message, extra);
}

export async function request<T>(method: string, url: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      ...init,
    });
  } catch (error) {
    throw new ApiError(0, `Network error: ${(error as Error).message}`, {});
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const getJson = <T>(url: string, init?: RequestInit) => request<T>("GET", url, undefined, init);
export const postJson = <T>(url: string, body: unknown, init?: RequestInit) => request<T>("POST", url, body, init);

/** A list endpoint's rows: DRF limit/offset pages (`{results: [...]}`) or a bare array. */
export function rowsOf<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === "object") {
    const obj = body as Record<string, unknown>;
    for (const key of ["results", "items", "rows"]) if (Array.isArray(obj[key])) return obj[key] as T[];
  }
  return [];
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
