// The operator API as the console calls it: JSON in, JSON out, the token in the Authorization
// header, and every refusal turned into an ApiError carrying the hub's own one-line message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function apiCall(token, method, path, body, headers = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `the hub did not answer: ${err.message}`);
  }
  let doc = null;
  try {
    doc = await response.json();
  } catch {
    /* not JSON */
  }
  if (!response.ok) {
    const error = doc?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? `HTTP ${response.status}`);
  }
  return doc;
}
