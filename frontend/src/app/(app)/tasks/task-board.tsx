"use client";

import { useState } from "react";

import type { Task, TaskSort, TaskStatusFilter } from "@/lib/api/client";

import { ConfirmDeleteDialog } from "./confirm-delete-dialog";
import { NewTaskForm } from "./new-task-form";
import { TaskFilters } from "./task-filters";
import { TaskItem } from "./task-item";
import { useTasks } from "./use-tasks";

export function TaskBoard() {
  const [status, setStatus] = useState<TaskStatusFilter>("all");
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<TaskSort>("-created_at");
  const [confirming, setConfirming] = useState<Task | null>(null);
  const board = useTasks({ status, query, sort });

  return (
    <div className="flex flex-col gap-6">
      <h1 className="text-2xl font-bold tracking-tight">Your tasks</h1>
      <NewTaskForm onCreate={board.create} />

      <section aria-label="Task list" className="flex flex-col gap-4">
        <TaskFilters status={status} query={query} sort={sort} onStatus={setStatus} onQuery={setQuery} onSort={setSort} />

        <p role="status" data-testid="announcer" className="sr-only">
          {board.announcement}
        </p>

        {board.notice ? (
          <div role="alert" data-testid="notice" className="flex items-start justify-between gap-3 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
            <span>{board.notice}</span>
            <button type="button" onClick={board.dismissNotice} aria-label="Dismiss message" className="font-semibold">
              ×
            </button>
          </div>
        ) : null}

        {board.phase === "loading" ? (
          <p role="status" data-testid="tasks-loading" className="flex items-center gap-2 py-6 text-slate-600">
            <span aria-hidden="true" className="size-4 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-600" />
            Loading tasks…
          </p>
        ) : board.phase === "error" ? (
          <div role="alert" data-testid="tasks-error" className="flex flex-col items-start gap-2 rounded-md bg-red-50 px-4 py-3 text-red-800">
            <p id="tasks-error-message">Couldn&apos;t load your tasks. {board.loadError}</p>
            <button
              type="button"
              onClick={board.reload}
              aria-describedby="tasks-error-message"
              className="rounded-md border border-red-300 bg-white px-3 py-1.5 text-sm font-medium hover:bg-red-100 focus-visible:outline-2 focus-visible:outline-red-600"
            >
              Retry
            </button>
          </div>
        ) : board.tasks.length === 0 ? (
          <p data-testid="empty-state" className="rounded-xl border border-dashed border-slate-300 px-4 py-8 text-center text-slate-600">
            {board.filtering ? "No tasks match these filters." : "No tasks yet. Add your first one above."}
          </p>
        ) : (
          <ul aria-label="Tasks" data-testid="task-list" className="flex flex-col gap-3">
            {board.tasks.map((task) => (
              <TaskItem
                key={task.id}
                task={task}
                busy={board.busy.has(task.id)}
                problem={board.problems[task.id]}
                onToggle={(item) => void board.toggle(item)}
                onDelete={setConfirming}
                onOpen={board.open}
                onSave={board.save}
                onResolve={(item) => void board.resolve(item)}
                onDismiss={board.dismissProblem}
              />
            ))}
          </ul>
        )}

        {board.loadMoreError ? (
          <div role="alert" data-testid="load-more-error" className="flex flex-wrap items-center justify-center gap-x-3 gap-y-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            <p id="load-more-error-message">Couldn&apos;t load more tasks. {board.loadMoreError}</p>
            <button
              type="button"
              onClick={() => void board.loadMore()}
              disabled={board.loadingMore}
              aria-describedby="load-more-error-message"
              className="rounded-md border border-red-300 bg-white px-3 py-1.5 text-sm font-medium hover:bg-red-100 focus-visible:outline-2 focus-visible:outline-red-600 disabled:opacity-60"
            >
              Retry
            </button>
          </div>
        ) : board.hasMore ? (
          <button
            type="button"
            onClick={() => void board.loadMore()}
            disabled={board.loadingMore}
            aria-busy={board.loadingMore || undefined}
            className="self-center rounded-md border border-slate-300 bg-white px-4 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-60"
          >
            Load more
          </button>
        ) : null}
      </section>

      <ConfirmDeleteDialog
        task={confirming}
        onCancel={() => setConfirming(null)}
        onConfirm={(task) => {
          setConfirming(null);
          void board.remove(task);
        }}
      />
    </div>
  );
}
