"use client";

import { useEffect, useRef, useState } from "react";

import {
  ApiError,
  createTask,
  deleteTask,
  getTask,
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

/**
 * The task list for the current filters, with optimistic changes that roll back when the
 * server refuses them.
 */
export function useTasks(filters: Filters) {
  const query = useDebounced(filters.query.trim(), SEARCH_DEBOUNCE_MS);
  const { status, sort } = filters;
  const [reloads, setReloads] = useState(0);
  const key = JSON.stringify([status, query, sort, reloads]);
  const [loaded, setLoaded] = useState<Loaded>({ key: "", tasks: [], nextCursor: null, error: null });
  const [loadingMore, setLoadingMore] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const etags = useRef(new Map<string, string>());

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

  /** Shows the server's version of a task (or drops it when it left the current filter). */
  const accept = ({ data, etag }: Versioned<Task>, replacing = data.id) => {
    if (etag) etags.current.set(data.id, etag);
    edit((tasks) =>
      tasks.flatMap((task) => (task.id === replacing ? (matchesStatus(data, status) ? [data] : []) : [task])),
    );
  };

  const restore = (original: Task, index: number) =>
    edit((tasks) =>
      tasks.some((task) => task.id === original.id)
        ? tasks.map((task) => (task.id === original.id ? original : task))
        : [...tasks.slice(0, index), original, ...tasks.slice(index)],
    );

  const forget = (id: string) => {
    etags.current.delete(id);
    edit((tasks) => tasks.filter((task) => task.id !== id));
  };

  /** Rolls an optimistic change back, or shows the latest version when someone else changed the task. */
  const recover = async (error: unknown, original: Task, index: number) => {
    if (error instanceof ApiError && error.status === 404) {
      forget(original.id);
      setNotice("This task no longer exists.");
      return;
    }
    if (error instanceof ApiError && error.status === 412) {
      try {
        const latest = await getTask(original.id);
        restore(latest.data, index);
        accept(latest);
        setNotice("This task was changed elsewhere, so your change was not saved. It now shows the latest version.");
      } catch {
        forget(original.id);
        setNotice("This task no longer exists.");
      }
      return;
    }
    restore(original, index);
    setNotice(messageOf(error));
  };

  const indexOf = (id: string) => loaded.tasks.findIndex((task) => task.id === id);

  return {
    tasks: loaded.tasks,
    phase,
    loadError: loaded.error,
    hasMore: phase === "ready" && loaded.nextCursor !== null,
    loadingMore,
    notice,
    filtering: query !== "" || status !== "all",
    dismissNotice: () => setNotice(null),
    reload: () => setReloads((count) => count + 1),

    async loadMore() {
      const cursor = loaded.nextCursor;
      if (!cursor || loadingMore) return;
      setLoadingMore(true);
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
        setNotice(messageOf(error));
      } finally {
        setLoadingMore(false);
      }
    },

    /** Resolves to an error message, or null once the task exists on the server. */
    async create(draft: TaskDraft, idempotencyKey: string): Promise<string | null> {
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
        return null;
      } catch (error) {
        forget(placeholder.id);
        return messageOf(error);
      }
    },

    async toggle(task: Task) {
      const index = indexOf(task.id);
      const flipped = { ...task, completed: !task.completed };
      accept({ data: flipped, etag: null });
      try {
        accept(await toggleTaskComplete(task.id, etags.current.get(task.id)));
      } catch (error) {
        await recover(error, task, index);
      }
    },

    async update(task: Task, draft: TaskDraft) {
      const index = indexOf(task.id);
      edit((tasks) => tasks.map((item) => (item.id === task.id ? { ...item, ...draft } : item)));
      try {
        accept(await updateTask(task.id, draft, etags.current.get(task.id)));
      } catch (error) {
        await recover(error, task, index);
      }
    },

    async remove(task: Task) {
      const index = indexOf(task.id);
      edit((tasks) => tasks.filter((item) => item.id !== task.id));
      try {
        await deleteTask(task.id, etags.current.get(task.id));
        etags.current.delete(task.id);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return;
        await recover(error, task, index);
      }
    },
  };
}
