// The page's only way to the server: JSON in and out, the session cookie, Django's CSRF header,
// and errors as ApiError with the server's {"detail": ...} so the page can say what went wrong.

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : document.querySelector("meta[name=csrf-token]")?.content ?? "";
}

function detailOf(body) {
  if (!body || typeof body !== "object") return typeof body === "string" ? body.slice(0, 300) : "";
  if (body.detail) return String(body.detail);
  // DRF validation errors: {"field": ["message"]} or ["message"].
  return Object.entries(body)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`)
    .join("; ");
}

export async function api(url, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (an HTML error page): keep the text for the message.
  }
  if (!res.ok) throw new ApiError(res.status, detailOf(data), data);
  return data;
}

// Every page of a DRF list (paginated {results, next} or a plain array).
export async function listAll(url) {
  const items = [];
  let next = url;
  while (next) {
    const data = await api(next);
    if (Array.isArray(data)) return data;
    items.push(...(data.results ?? []));
    next = data.next ?? null;
  }
  return items;
}
