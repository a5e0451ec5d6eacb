"use client";

import { useEffect, useRef, useState } from "react";

import {
  ApiError,
  createTask,
  deleteTask,
  getTask,
  isTransient,
  listTasks,
  toggleTaskComplete,
  updateTask,
  type Task,
  type TaskSort,
  type TaskStatusFilter,
  type Versioned,
} from "@/lib/api/client";
import { signInPath } from "@/lib/safe-next";

import type { TaskDraft } from "./task-draft";
import { useDebounced } from "./use-debounced";

const PAGE_SIZE = 20;
const SEARCH_DEBOUNCE_MS = 300;
const PENDING_PREFIX = "pending-";
const GONE = "This task no longer exists.";

export interface Filters {
  status: TaskStatusFilter;
  query: string;
  sort: TaskSort;
}

interface Loaded {
  key: string;
  tasks: Task[];
  nextCursor: string | null;
  error: string | null;
}

/** A task with the ETag of that very version. */
export type TaskVersion = Versioned<Task> & { etag: string };

/** A change made from the list (the edit form keeps its own state). */
export type TaskAction = { type: "toggle"; completed: boolean } | { type: "delete" };

/**
 * Why a toggle or a delete did not happen, shown on the task until the person acts on it.
 * `conflict`: the task changed on the server; the list now shows the latest version.
 * `failed`: the request failed; `retryable` when sending it again may work (network, 503, ...).
 */
export interface TaskProblem {
  action: TaskAction;
  kind: "conflict" | "failed";
  message: string;
  retryable: boolean;
}

export type Failure = { message: string; retryable: boolean };
export type CreateResult = { ok: true } | ({ ok: false } & Failure);
export type OpenResult = { outcome: "ready"; latest: TaskVersion } | { outcome: "gone" } | ({ outcome: "failed" } & Failure);
export type SaveResult =
  | { outcome: "saved" }
  | { outcome: "conflict"; latest: TaskVersion }
  | { outcome: "gone" }
  | ({ outcome: "failed" } & Failure);

/** A task shown optimistically while its create request is in flight. */
export function isPendingTask(task: Task): boolean {
  return task.id.startsWith(PENDING_PREFIX);
}

function matchesStatus(task: Task, status: TaskStatusFilter): boolean {
  return status === "all" || task.completed === (status === "completed");
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) window.location.assign(signInPath("/tasks"));
    return error.message;
  }
  return "Something went wrong. Please try again.";
}

function failure(error: unknown): Failure {
  return { message: messageOf(error), retryable: isTransient(error) };
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof ApiError && error.status === status;
}

function conflictMessage(action: TaskAction): string {
  const notDone =
    action.type === "delete"
      ? "so it was not deleted"
      : `so it was not marked ${action.completed ? "complete" : "as not complete"}`;
  return `This task changed since you loaded it, ${notDone}. It now shows the latest version.`;
}

function failureMessage(action: TaskAction, error: unknown): string {
  const what =
    action.type === "delete"
      ? "delete this task"
      : `mark this task ${action.completed ? "complete" : "as not complete"}`;
  return `Couldn't ${what}. ${messageOf(error)}`;
}

/**
 * The task list for the current filters, with optimistic changes that roll back when the
 * server refuses them.
 *
 * Versions: every change sends `If-Match` with the ETag of the version the person is looking at.
 * ETags come only from task responses (create, get, update, toggle), remembered per task with the
 * `updated_at` of the version they name. A listed task has no ETag of its own, so the first change
 * to it reads the task first; if the server's copy is not the one on screen, that is a conflict
 * and nothing is sent.
 */
export function useTasks(filters: Filters) {
  const query = useDebounced(filters.query.trim(), SEARCH_DEBOUNCE_MS);
  const { status, sort } = filters;
  const [reloads, setReloads] = useState(0);
  const key = JSON.stringify([status, query, sort, reloads]);
  const [loaded, setLoaded] = useState<Loaded>({ key: "", tasks: [], nextCursor: null, error: null });
  const [loadingMore, setLoadingMore] = useState(false);
  const [loadMoreError, setLoadMoreError] = useState<{ key: string; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [problems, setProblems] = useState<Readonly<Record<string, TaskProblem>>>({});
  const [busy, setBusy] = useState<ReadonlySet<string>>(() => new Set());
  /** id → the ETag of one version of the task, and that version's `updated_at`. */
  const versions = useRef(new Map<string, { updatedAt: string; etag: string }>());
  /** Tasks with a change in flight: one at a time per task, so each starts from a known version. */
  const inFlight = useRef(new Set<string>());

  useEffect(() => {
    const controller = new AbortController();
    listTasks({ status, q: query || undefined, sort, limit: PAGE_SIZE }, controller.signal).then(
      (page) => setLoaded({ key, tasks: page.items, nextCursor: page.next_cursor, error: null }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setLoaded({ key, tasks: [], nextCursor: null, error: messageOf(error) });
      },
    );
    return () => controller.abort();
  }, [key, status, query, sort]);

  const phase = loaded.key !== key ? "loading" : loaded.error ? "error" : "ready";

  const edit = (change: (tasks: Task[]) => Task[]) =>
    setLoaded((current) => ({ ...current, tasks: change(current.tasks) }));

  const setProblem = (id: string, problem: TaskProblem | null) =>
    setProblems((current) => {
      if (!problem && !(id in current)) return current;
      const next = { ...current };
      if (problem) next[id] = problem;
      else delete next[id];
      return next;
    });

  const begin = (id: string): boolean => {
    if (inFlight.current.has(id)) return false;
    inFlight.current.add(id);
    setBusy(new Set(inFlight.current));
    return true;
  };

  const end = (id: string) => {
    inFlight.current.delete(id);
    setBusy(new Set(inFlight.current));
  };

  const remember = ({ data, etag }: Versioned<Task>) => {
    if (etag) versions.current.set(data.id, { updatedAt: data.updated_at, etag });
  };

  /** Shows the server's version of a task (or drops it when it left the current filter). */
  const accept = (version: Versioned<Task>, replacing = version.data.id) => {
    const { data } = version;
    remember(version);
    edit((tasks) =>
      tasks.flatMap((task) => (task.id === replacing ? (matchesStatus(data, status) ? [data] : []) : [task])),
    );
  };

  /** Puts `task` back where it was, even if it no longer matches the filter: the person needs to see it. */
  const restore = (task: Task, index: number) =>
    edit((tasks) =>
      tasks.some((item) => item.id === task.id)
        ? tasks.map((item) => (item.id === task.id ? task : item))
        : [...tasks.slice(0, Math.max(index, 0)), task, ...tasks.slice(Math.max(index, 0))],
    );

  const forget = (id: string) => {
    versions.current.delete(id);
    setProblem(id, null);
    edit((tasks) => tasks.filter((task) => task.id !== id));
  };

  /** The task as the server has it now, with its ETag. */
  const fetchLatest = async (id: string): Promise<TaskVersion> => {
    const latest = await getTask(id);
    remember(latest);
    if (!latest.etag) throw new ApiError(502, "missing_etag", "Unexpected response from the task service.");
    return { data: latest.data, etag: latest.etag };
  };

  /** The ETag of the version of `task` on screen, or the server's newer version when it moved on. */
  const versionOf = async (task: Task): Promise<{ etag: string } | { changed: TaskVersion }> => {
    const known = versions.current.get(task.id);
    if (known && known.updatedAt === task.updated_at) return { etag: known.etag };
    const latest = await fetchLatest(task.id);
    return latest.data.updated_at === task.updated_at ? { etag: latest.etag } : { changed: latest };
  };

  /** The task changed on the server: show its latest version and say so, unless it already is as asked. */
  const conflict = (latest: Task, index: number, action: TaskAction) => {
    if (action.type === "toggle" && latest.completed === action.completed) {
      accept({ data: latest, etag: null });
      return;
    }
    restore(latest, index);
    setProblem(latest.id, { action, kind: "conflict", message: conflictMessage(action), retryable: true });
  };

  /** After a toggle or delete failed: roll back, or show the newer version on 412. */
  const recover = async (error: unknown, original: Task, index: number, action: TaskAction) => {
    if (isStatus(error, 404)) {
      forget(original.id);
      if (action.type !== "delete") setNotice(GONE);
      return;
    }
    if (isStatus(error, 412)) {
      try {
        conflict((await fetchLatest(original.id)).data, index, action);
        return;
      } catch (latestError) {
        if (isStatus(latestError, 404)) {
          forget(original.id);
          if (action.type !== "delete") setNotice(GONE);
          return;
        }
        error = latestError;
      }
    }
    restore(original, index);
    setProblem(original.id, { action, kind: "failed", message: failureMessage(action, error), retryable: isTransient(error) });
  };

  const indexOf = (id: string) => loaded.tasks.findIndex((task) => task.id === id);

  async function toggle(task: Task) {
    if (!begin(task.id)) return;
    const index = indexOf(task.id);
    const action: TaskAction = { type: "toggle", completed: !task.completed };
    setProblem(task.id, null);
    accept({ data: { ...task, completed: action.completed }, etag: null });
    try {
      const version = await versionOf(task);
      if ("changed" in version) {
        conflict(version.changed.data, index, action);
        return;
      }
      accept(await toggleTaskComplete(task.id, version.etag));
      setAnnouncement(`“${task.title}” marked ${action.completed ? "complete" : "not complete"}.`);
    } catch (error) {
      await recover(error, task, index, action);
    } finally {
      end(task.id);
    }
  }

  async function remove(task: Task) {
    if (!begin(task.id)) return;
    const index = indexOf(task.id);
    const action: TaskAction = { type: "delete" };
    setProblem(task.id, null);
    edit((tasks) => tasks.filter((item) => item.id !== task.id));
    try {
      const version = await versionOf(task);
      if ("changed" in version) {
        conflict(version.changed.data, index, action);
        return;
      }
      await deleteTask(task.id, version.etag);
      versions.current.delete(task.id);
      setAnnouncement(`“${task.title}” deleted.`);
    } catch (error) {
      await recover(error, task, index, action);
    } finally {
      end(task.id);
    }
  }

  return {
    tasks: loaded.tasks,
    phase,
    loadError: loaded.error,
    hasMore: phase === "ready" && loaded.nextCursor !== null,
    loadingMore,
    loadMoreError: phase === "ready" && loadMoreError?.key === key ? loadMoreError.message : null,
    notice,
    announcement,
    problems,
    busy,
    filtering: query !== "" || status !== "all",
    dismissNotice: () => setNotice(null),
    dismissProblem: (id: string) => setProblem(id, null),
    reload: () => setReloads((count) => count + 1),
    toggle,
    remove,

    async loadMore() {
      const cursor = loaded.nextCursor;
      if (!cursor || loadingMore) return;
      setLoadingMore(true);
      setLoadMoreError(null);
      try {
        const page = await listTasks({ status, q: query || undefined, sort, limit: PAGE_SIZE, cursor });
        setLoaded((current) => {
          if (current.key !== key) return current;
          const seen = new Set(current.tasks.map((task) => task.id));
          return {
            ...current,
            tasks: [...current.tasks, ...page.items.filter((task) => !seen.has(task.id))],
            nextCursor: page.next_cursor,
          };
        });
      } catch (error) {
        setLoadMoreError({ key, message: messageOf(error) });
      } finally {
        setLoadingMore(false);
      }
    },

    /** Sends one create; the same `idempotencyKey` again never makes a second task. */
    async create(draft: TaskDraft, idempotencyKey: string): Promise<CreateResult> {
      const now = new Date().toISOString();
      const placeholder: Task = { id: `${PENDING_PREFIX}${idempotencyKey}`, ...draft, completed: false, created_at: now, updated_at: now };
      if (matchesStatus(placeholder, status)) {
        edit((tasks) => [placeholder, ...tasks.filter((task) => task.id !== placeholder.id)]);
      }
      try {
        const created = await createTask(draft, idempotencyKey);
        // A retried create returns the task made the first time: show it once.
        edit((tasks) => {
          const others = tasks.filter((task) => task.id !== created.data.id);
          return others.some((task) => task.id === placeholder.id) ? others : [placeholder, ...others];
        });
        accept(created, placeholder.id);
        setAnnouncement(`“${created.data.title}” added.`);
        return { ok: true };
      } catch (error) {
        forget(placeholder.id);
        return { ok: false, ...failure(error) };
      }
    },

    /** The task as the server has it, for the edit form: its values and the ETag to save against. */
    async open(task: Task): Promise<OpenResult> {
      try {
        const latest = await fetchLatest(task.id);
        restore(latest.data, indexOf(task.id));
        return { outcome: "ready", latest };
      } catch (error) {
        if (isStatus(error, 404)) {
          forget(task.id);
          setNotice(GONE);
          return { outcome: "gone" };
        }
        return { outcome: "failed", ...failure(error) };
      }
    },

    /** Saves the edit form's draft over the version it was opened on (`etag`). */
    async save(task: Task, draft: TaskDraft, etag: string): Promise<SaveResult> {
      if (!begin(task.id)) return { outcome: "failed", message: "Another change to this task is still being saved.", retryable: true };
      try {
        accept(await updateTask(task.id, draft, etag));
        setAnnouncement(`“${draft.title}” saved.`);
        return { outcome: "saved" };
      } catch (error) {
        if (isStatus(error, 404)) {
          forget(task.id);
          setNotice(GONE);
          return { outcome: "gone" };
        }
        if (!isStatus(error, 412)) return { outcome: "failed", ...failure(error) };
        try {
          const latest = await fetchLatest(task.id);
          restore(latest.data, indexOf(task.id));
          // An earlier attempt whose answer was lost may have saved this very draft.
          if (latest.data.title === draft.title && latest.data.description === draft.description) {
            accept(latest);
            setAnnouncement(`“${draft.title}” saved.`);
            return { outcome: "saved" };
          }
          return { outcome: "conflict", latest };
        } catch (latestError) {
          if (isStatus(latestError, 404)) {
            forget(task.id);
            setNotice(GONE);
            return { outcome: "gone" };
          }
          return { outcome: "failed", ...failure(latestError) };
        }
      } finally {
        end(task.id);
      }
    },

    /** The action behind a problem's main button: retry the failed change, or apply it to the latest version. */
    async resolve(task: Task) {
      const problem = problems[task.id];
      if (!problem) return;
      setProblem(task.id, null);
      if (problem.action.type === "delete") await remove(task);
      else if (task.completed !== problem.action.completed) await toggle(task);
    },
  };
}
