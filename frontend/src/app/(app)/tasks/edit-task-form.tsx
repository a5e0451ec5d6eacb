"use client";

import { useState, type FormEvent, type KeyboardEvent } from "react";

import type { Task } from "@/lib/api/client";

import { MAX_DESCRIPTION, MAX_TITLE, draftErrors, toDraft, type DraftErrors, type TaskDraft } from "./task-draft";
import type { Failure } from "./use-tasks";

export const secondaryButton =
  "rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-50";
const primaryButton =
  "rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-70";

interface Props {
  /** The form's accessible name, "Edit <title>", fixed while it is open. */
  label: string;
  /** The version the fields started from. */
  initial: Task;
  /** The newer version a save ran into (412), shown until the person saves again or discards. */
  conflict: Task | null;
  error: Failure | null;
  saving: boolean;
  onSave: (draft: TaskDraft) => void;
  onCancel: () => void;
}

/**
 * The person's draft lives here and survives a failed save or a conflict; the parent decides
 * which version (ETag) a save applies to.
 */
export function EditTaskForm({ label, initial, conflict, error, saving, onSave, onCancel }: Props) {
  const [title, setTitle] = useState(initial.title);
  const [description, setDescription] = useState(initial.description ?? "");
  const [errors, setErrors] = useState<DraftErrors>({});
  const base = `edit-${initial.id}`;

  function submit() {
    if (saving) return;
    const found = draftErrors(title, description);
    setErrors(found);
    if (found.title || found.description) {
      document.getElementById(found.title ? `${base}-title` : `${base}-description`)?.focus();
      return;
    }
    onSave(toDraft(title, description));
  }

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    submit();
  }

  function onKeyDown(event: KeyboardEvent<HTMLFormElement>) {
    if (event.key === "Escape" && !saving) onCancel();
  }

  return (
    <form noValidate onSubmit={onSubmit} onKeyDown={onKeyDown} className="flex flex-col gap-2" aria-label={label} aria-busy={saving || undefined}>
      {conflict ? (
        <div role="alert" data-testid="edit-conflict" className="flex flex-col gap-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950">
          <p id={`${base}-conflict`} className="font-semibold">
            This task changed since you opened it. Review the latest version and save again.
          </p>
          <dl className="grid grid-cols-[auto_minmax(0,1fr)] gap-x-3 gap-y-1">
            <dt className="font-medium">Latest title</dt>
            <dd data-testid="latest-title" className="break-words">
              {conflict.title}
            </dd>
            <dt className="font-medium">Latest description</dt>
            <dd data-testid="latest-description" className="whitespace-pre-wrap break-words">
              {conflict.description ?? <span className="italic">None</span>}
            </dd>
            <dt className="font-medium">Status</dt>
            <dd>{conflict.completed ? "Completed" : "Not completed"}</dd>
          </dl>
          <p>Your changes are still in the form below.</p>
          <div className="flex flex-wrap gap-2">
            <button type="button" onClick={submit} disabled={saving} aria-describedby={`${base}-conflict`} className={primaryButton}>
              Apply my changes
            </button>
            <button type="button" onClick={onCancel} disabled={saving} className={secondaryButton}>
              Discard my changes
            </button>
          </div>
        </div>
      ) : null}
      {error ? (
        <div role="alert" data-testid="edit-error" className="flex flex-wrap items-center gap-x-3 gap-y-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          <p id={`${base}-error`} className="min-w-0 flex-1">
            Couldn&apos;t save your changes. {error.message}
          </p>
          {error.retryable ? (
            <button type="button" onClick={submit} disabled={saving} aria-describedby={`${base}-error`} className={secondaryButton}>
              Retry
            </button>
          ) : null}
        </div>
      ) : null}
      <label htmlFor={`${base}-title`} className="text-sm font-medium text-slate-700">
        Edit title
      </label>
      <input
        id={`${base}-title`}
        value={title}
        onChange={(event) => setTitle(event.target.value)}
        readOnly={saving}
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
        readOnly={saving}
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
      <div className="flex items-center gap-2">
        <button type="submit" disabled={saving} aria-busy={saving || undefined} className={primaryButton}>
          Save
        </button>
        <button type="button" onClick={onCancel} disabled={saving} className={secondaryButton}>
          Cancel
        </button>
        {saving ? (
          <span role="status" className="text-sm text-slate-600">
            Saving…
          </span>
        ) : null}
      </div>
    </form>
  );
}
