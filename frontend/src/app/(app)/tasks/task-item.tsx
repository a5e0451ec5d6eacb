"use client";

import { useEffect, useRef, useState } from "react";

import type { Task } from "@/lib/api/client";

import { EditTaskForm, secondaryButton } from "./edit-task-form";
import type { TaskDraft } from "./task-draft";
import { isPendingTask, type Failure, type OpenResult, type SaveResult, type TaskProblem, type TaskVersion } from "./use-tasks";

interface Props {
  task: Task;
  /** A change to this task is in flight. */
  busy: boolean;
  problem: TaskProblem | undefined;
  onToggle: (task: Task) => void;
  onDelete: (task: Task) => void;
  onOpen: (task: Task) => Promise<OpenResult>;
  onSave: (task: Task, draft: TaskDraft, etag: string) => Promise<SaveResult>;
  onResolve: (task: Task) => void;
  onDismiss: (id: string) => void;
}

type Editor =
  | { phase: "closed" }
  | { phase: "loading" }
  | { phase: "load-failed"; failure: Failure }
  | { phase: "open"; label: string; initial: Task; base: TaskVersion; conflict: Task | null; error: Failure | null; saving: boolean };

const CLOSED: Editor = { phase: "closed" };

function ProblemPanel({ task, problem, onResolve, onDismiss }: { task: Task; problem: TaskProblem; onResolve: () => void; onDismiss: () => void }) {
  const id = `problem-${task.id}`;
  const [main, other] =
    problem.kind === "failed"
      ? ["Retry", "Dismiss"]
      : problem.action.type === "delete"
        ? ["Remove anyway", "Keep it"]
        : ["Apply my change", "Dismiss"];
  return (
    <div
      role="alert"
      data-testid="task-problem"
      data-kind={problem.kind}
      className={`mt-3 flex flex-col gap-2 rounded-md px-3 py-2 text-sm ${problem.kind === "conflict" ? "border border-amber-300 bg-amber-50 text-amber-950" : "bg-red-50 text-red-800"}`}
    >
      <p id={id} className="break-words">
        {problem.message}
      </p>
      <div className="flex flex-wrap gap-2">
        {problem.retryable ? (
          <button type="button" onClick={onResolve} aria-describedby={id} className={secondaryButton}>
            {main}
          </button>
        ) : null}
        <button type="button" onClick={onDismiss} aria-describedby={id} className={secondaryButton}>
          {other}
        </button>
      </div>
    </div>
  );
}

export function TaskItem({ task, busy, problem, onToggle, onDelete, onOpen, onSave, onResolve, onDismiss }: Props) {
  const [editor, setEditor] = useState<Editor>(CLOSED);
  const editButton = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  const pending = isPendingTask(task);
  const locked = pending || busy;

  useEffect(() => {
    // Back from the edit form: focus returns to the button that opened it.
    if (editor.phase === "closed" && refocus.current) {
      refocus.current = false;
      editButton.current?.focus();
    }
  }, [editor.phase]);

  function close() {
    refocus.current = true;
    setEditor(CLOSED);
  }

  async function openEditor() {
    if (locked) return;
    setEditor({ phase: "loading" });
    // The list has no ETags: read the task for its current values and version.
    const result = await onOpen(task);
    if (result.outcome === "ready") {
      const { latest } = result;
      setEditor({ phase: "open", label: `Edit ${latest.data.title}`, initial: latest.data, base: latest, conflict: null, error: null, saving: false });
    } else if (result.outcome === "failed") {
      setEditor({ phase: "load-failed", failure: result });
    } else {
      setEditor(CLOSED);
    }
  }

  async function save(draft: TaskDraft) {
    if (editor.phase !== "open" || editor.saving) return;
    const current = editor;
    setEditor({ ...current, saving: true, error: null });
    const result = await onSave(task, draft, current.base.etag);
    switch (result.outcome) {
      case "saved":
        close();
        break;
      case "gone":
        setEditor(CLOSED);
        break;
      case "conflict":
        // Save again now applies the draft on top of the newer version.
        setEditor({ ...current, base: result.latest, conflict: result.latest.data, error: null, saving: false });
        break;
      case "failed":
        setEditor({ ...current, error: { message: result.message, retryable: result.retryable }, saving: false });
        break;
    }
  }

  return (
    <li
      data-testid="task-item"
      data-task-id={pending ? undefined : task.id}
      data-completed={task.completed}
      aria-busy={locked || editor.phase === "loading" || undefined}
      className={`rounded-xl border border-slate-200 bg-white p-4 shadow-sm ${pending ? "opacity-60" : ""}`}
    >
      {editor.phase === "open" ? (
        <EditTaskForm
          label={editor.label}
          initial={editor.initial}
          conflict={editor.conflict}
          error={editor.error}
          saving={editor.saving}
          onCancel={close}
          onSave={(draft) => void save(draft)}
        />
      ) : editor.phase === "loading" ? (
        <p role="status" className="flex items-center gap-2 text-sm text-slate-600">
          <span aria-hidden="true" className="size-4 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-600" />
          Opening “{task.title}” for editing…
        </p>
      ) : editor.phase === "load-failed" ? (
        <div role="alert" data-testid="edit-load-error" className="flex flex-col gap-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          <p id={`edit-load-error-${task.id}`} className="break-words">
            Couldn&apos;t open “{task.title}” for editing. {editor.failure.message}
          </p>
          <div className="flex flex-wrap gap-2">
            {editor.failure.retryable ? (
              <button type="button" onClick={() => void openEditor()} aria-describedby={`edit-load-error-${task.id}`} className={secondaryButton}>
                Retry
              </button>
            ) : null}
            <button type="button" onClick={close} className={secondaryButton}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <>
          <div className="flex flex-col gap-3 sm:flex-row sm:items-start">
            <div className="flex min-w-0 flex-1 items-start gap-3">
              <input
                type="checkbox"
                checked={task.completed}
                disabled={pending}
                aria-disabled={busy || undefined}
                onChange={() => {
                  if (!locked) onToggle(task);
                }}
                aria-label={`Mark ${task.title} complete`}
                className="mt-1 size-5 shrink-0 cursor-pointer accent-indigo-600"
              />
              <div className="min-w-0 flex-1">
                <p data-testid="task-title" className={`break-words font-medium ${task.completed ? "text-slate-500 line-through" : ""}`}>
                  {task.title}
                </p>
                {task.description ? (
                  <p data-testid="task-description" className="mt-1 whitespace-pre-wrap break-words text-sm text-slate-600">
                    {task.description}
                  </p>
                ) : null}
              </div>
            </div>
            <div className="flex shrink-0 justify-end gap-2">
              <button ref={editButton} type="button" onClick={() => void openEditor()} disabled={pending} aria-disabled={busy || undefined} className={secondaryButton}>
                Edit
              </button>
              <button
                type="button"
                onClick={() => {
                  if (!locked) onDelete(task);
                }}
                disabled={pending}
                aria-disabled={busy || undefined}
                className="rounded-md border border-red-200 px-3 py-1.5 text-sm font-medium text-red-700 hover:bg-red-50 focus-visible:outline-2 focus-visible:outline-red-600 disabled:opacity-50"
              >
                Delete
              </button>
            </div>
          </div>
          {problem ? <ProblemPanel task={task} problem={problem} onResolve={() => onResolve(task)} onDismiss={() => onDismiss(task.id)} /> : null}
        </>
      )}
    </li>
  );
}
