"use client";

import { useState, type FormEvent, type KeyboardEvent } from "react";

import type { Task } from "@/lib/api/client";

import { MAX_DESCRIPTION, MAX_TITLE, draftErrors, toDraft, type DraftErrors, type TaskDraft } from "./task-draft";
import { isPendingTask } from "./use-tasks";

interface Props {
  task: Task;
  onToggle: (task: Task) => void;
  onUpdate: (task: Task, draft: TaskDraft) => void;
  onDelete: (task: Task) => void;
}

const secondaryButton =
  "rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-50";

function EditTaskForm({ task, onSave, onCancel }: { task: Task; onSave: (draft: TaskDraft) => void; onCancel: () => void }) {
  const [title, setTitle] = useState(task.title);
  const [description, setDescription] = useState(task.description ?? "");
  const [errors, setErrors] = useState<DraftErrors>({});
  const base = `edit-${task.id}`;

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const found = draftErrors(title, description);
    setErrors(found);
    if (found.title || found.description) return;
    onSave(toDraft(title, description));
  }

  function onKeyDown(event: KeyboardEvent<HTMLFormElement>) {
    if (event.key === "Escape") onCancel();
  }

  return (
    <form noValidate onSubmit={onSubmit} onKeyDown={onKeyDown} className="flex flex-col gap-2" aria-label={`Edit ${task.title}`}>
      <label htmlFor={`${base}-title`} className="text-sm font-medium text-slate-700">
        Edit title
      </label>
      <input
        id={`${base}-title`}
        value={title}
        onChange={(event) => setTitle(event.target.value)}
        maxLength={MAX_TITLE}
        autoFocus
        aria-invalid={errors.title ? true : undefined}
        aria-describedby={errors.title ? `${base}-title-error` : undefined}
        className="rounded-md border border-slate-300 px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
      />
      {errors.title ? (
        <p id={`${base}-title-error`} className="text-sm text-red-700">
          {errors.title}
        </p>
      ) : null}
      <label htmlFor={`${base}-description`} className="text-sm font-medium text-slate-700">
        Edit description
      </label>
      <textarea
        id={`${base}-description`}
        value={description}
        onChange={(event) => setDescription(event.target.value)}
        maxLength={MAX_DESCRIPTION}
        rows={2}
        aria-invalid={errors.description ? true : undefined}
        aria-describedby={errors.description ? `${base}-description-error` : undefined}
        className="resize-y rounded-md border border-slate-300 px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
      />
      {errors.description ? (
        <p id={`${base}-description-error`} className="text-sm text-red-700">
          {errors.description}
        </p>
      ) : null}
      <div className="flex gap-2">
        <button type="submit" className="rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
          Save
        </button>
        <button type="button" onClick={onCancel} className={secondaryButton}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function TaskItem({ task, onToggle, onUpdate, onDelete }: Props) {
  const [editing, setEditing] = useState(false);
  const pending = isPendingTask(task);

  return (
    <li
      data-testid="task-item"
      data-task-id={pending ? undefined : task.id}
      data-completed={task.completed}
      aria-busy={pending || undefined}
      className={`rounded-xl border border-slate-200 bg-white p-4 shadow-sm ${pending ? "opacity-60" : ""}`}
    >
      {editing ? (
        <EditTaskForm
          task={task}
          onCancel={() => setEditing(false)}
          onSave={(draft) => {
            setEditing(false);
            onUpdate(task, draft);
          }}
        />
      ) : (
        <div className="flex flex-col gap-3 sm:flex-row sm:items-start">
          <div className="flex min-w-0 flex-1 items-start gap-3">
            <input
              type="checkbox"
              checked={task.completed}
              disabled={pending}
              onChange={() => onToggle(task)}
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
            <button type="button" onClick={() => setEditing(true)} disabled={pending} className={secondaryButton}>
              Edit
            </button>
            <button
              type="button"
              onClick={() => onDelete(task)}
              disabled={pending}
              className="rounded-md border border-red-200 px-3 py-1.5 text-sm font-medium text-red-700 hover:bg-red-50 focus-visible:outline-2 focus-visible:outline-red-600 disabled:opacity-50"
            >
              Delete
            </button>
          </div>
        </div>
      )}
    </li>
  );
}
