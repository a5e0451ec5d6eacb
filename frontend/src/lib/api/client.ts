/**
 * Typed browser client for the BFF proxy (/api/tasks...). Every type comes from
 * schema.d.ts, generated from FastAPI's OpenAPI schema by `npm run gen:api`.
 * Requests carry only the same-origin session cookie; the proxy adds the JWT server-side.
 */
import type { components, paths } from "@/lib/api/schema";

export type Task = components["schemas"]["Task"];
export type TaskList = components["schemas"]["TaskList"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type TaskPatch = components["schemas"]["TaskPatch"];
type ErrorBody = components["schemas"]["ErrorBody"];
export type TaskListQuery = NonNullable<paths["/api/{user_id}/tasks"]["get"]["parameters"]["query"]>;
export type TaskStatusFilter = NonNullable<TaskListQuery["status"]>;
export type TaskSort = NonNullable<TaskListQuery["sort"]>;

/**
 * A task with the ETag the server sent for it: the `If-Match` for the next change. ETags are
 * opaque; only the server makes them (list items carry none, so a change to a listed task starts
 * from `getTask`).
 */
export interface Versioned<T> {
  data: T;
  etag: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * Failures where the request may never have arrived or the service will be back: the same
 * request can be sent again (creates with their Idempotency-Key, changes with their If-Match).
 */
export function isTransient(error: unknown): error is ApiError {
  return error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);
}

const FALLBACK_MESSAGES: Record<number, string> = {
  401: "Your session has ended. Please sign in again.",
  403: "You are not allowed to do that.",
  404: "This task no longer exists.",
  412: "This task was changed elsewhere.",
  413: "That is too long.",
  422: "Please check what you entered.",
  429: "Too many requests. Please wait a moment.",
  503: "The task service is unavailable. Please try again shortly.",
};

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).detail === "string" &&
    typeof (value as Record<string, unknown>).code === "string"
  );
}

async function toApiError(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => null);
  const retryAfter = Number(response.headers.get("Retry-After"));
  const fallback = FALLBACK_MESSAGES[response.status] ?? "Something went wrong. Please try again.";
  return new ApiError(
    response.status,
    isErrorBody(body) ? body.code : "http_error",
    // 5xx details are for operators; people get the plain fallback.
    isErrorBody(body) && response.status < 500 ? body.detail : fallback,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
  );
}

async function send(path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      ...init,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", ...init.headers },
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "Could not reach the server. Check your connection and try again.");
  }
  if (!response.ok) throw await toApiError(response);
  return response;
}

async function versioned(response: Response): Promise<Versioned<Task>> {
  return { data: (await response.json()) as Task, etag: response.headers.get("ETag") };
}

function jsonBody(body: unknown): { body: string; headers: Record<string, string> } {
  return { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
}

function ifMatch(etag: string): Record<string, string> {
  return { "If-Match": etag };
}

function taskPath(id: string, suffix = ""): string {
  return `/api/tasks/${encodeURIComponent(id)}${suffix}`;
}

export async function listTasks(query: TaskListQuery, signal?: AbortSignal): Promise<TaskList> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const response = await send(`/api/tasks?${params.toString()}`, { method: "GET", signal });
  return (await response.json()) as TaskList;
}

export async function getTask(id: string): Promise<Versioned<Task>> {
  return versioned(await send(taskPath(id), { method: "GET" }));
}

/** Creates a task; retrying with the same `idempotencyKey` never creates a second one. */
export async function createTask(task: TaskCreate, idempotencyKey: string): Promise<Versioned<Task>> {
  const { body, headers } = jsonBody(task);
  return versioned(
    await send("/api/tasks", { method: "POST", body, headers: { ...headers, "Idempotency-Key": idempotencyKey } }),
  );
}

/** Every change names the version it applies to; a stale `etag` gets a 412 ApiError. */
export async function updateTask(id: string, patch: TaskPatch, etag: string): Promise<Versioned<Task>> {
  const { body, headers } = jsonBody(patch);
  return versioned(await send(taskPath(id), { method: "PATCH", body, headers: { ...headers, ...ifMatch(etag) } }));
}

export async function toggleTaskComplete(id: string, etag: string): Promise<Versioned<Task>> {
  return versioned(await send(taskPath(id, "/complete"), { method: "PATCH", headers: ifMatch(etag) }));
}

export async function deleteTask(id: string, etag: string): Promise<void> {
  await send(taskPath(id), { method: "DELETE", headers: ifMatch(etag) });
}
