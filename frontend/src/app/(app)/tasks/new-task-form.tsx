"use client";

import { useRef, useState, type FormEvent } from "react";

import { MAX_DESCRIPTION, MAX_TITLE, draftErrors, toDraft, type DraftErrors, type TaskDraft } from "./task-draft";

interface Attempt {
  key: string;
  title: string;
  description: string;
}

export function NewTaskForm({ onCreate }: { onCreate: (draft: TaskDraft, idempotencyKey: string) => Promise<string | null> }) {
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<DraftErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const titleRef = useRef<HTMLInputElement>(null);
  // The Idempotency-Key of a create that failed: retrying the same task reuses it.
  const lastAttempt = useRef<Attempt | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const found = draftErrors(title, description);
    setErrors(found);
    setFormError(null);
    if (found.title || found.description) {
      (found.title ? titleRef.current : document.getElementById("new-task-description"))?.focus();
      return;
    }
    const previous = lastAttempt.current;
    const key =
      previous && previous.title === title && previous.description === description ? previous.key : crypto.randomUUID();
    lastAttempt.current = { key, title, description };
    setPending(true);
    const failure = await onCreate(toDraft(title, description), key);
    setPending(false);
    if (failure) {
      setFormError(failure);
      return;
    }
    lastAttempt.current = null;
    setTitle("");
    setDescription("");
    titleRef.current?.focus();
  }

  return (
    <form noValidate onSubmit={onSubmit} aria-labelledby="new-task-heading" className="flex flex-col gap-3 rounded-xl border border-slate-200 bg-white p-4 shadow-sm">
      <h2 id="new-task-heading" className="text-base font-semibold">
        New task
      </h2>
      {formError ? (
        <p role="alert" data-testid="create-error" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          {formError}
        </p>
      ) : null}
      <div className="flex flex-col gap-1">
        <label htmlFor="new-task-title" className="text-sm font-medium text-slate-700">
          Title
        </label>
        <input
          ref={titleRef}
          id="new-task-title"
          name="title"
          value={title}
          onChange={(event) => {
            setTitle(event.target.value);
            if (errors.title) setErrors({ ...errors, title: undefined });
          }}
          maxLength={MAX_TITLE}
          required
          autoComplete="off"
          aria-invalid={errors.title ? true : undefined}
          aria-describedby={errors.title ? "new-task-title-error" : undefined}
          className={`rounded-md border px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 ${errors.title ? "border-red-500" : "border-slate-300"}`}
        />
        {errors.title ? (
          <p id="new-task-title-error" className="text-sm text-red-700">
            {errors.title}
          </p>
        ) : null}
      </div>
      <div className="flex flex-col gap-1">
        <label htmlFor="new-task-description" className="text-sm font-medium text-slate-700">
          Description
        </label>
        <textarea
          id="new-task-description"
          name="description"
          value={description}
          onChange={(event) => {
            setDescription(event.target.value);
            if (errors.description) setErrors({ ...errors, description: undefined });
          }}
          maxLength={MAX_DESCRIPTION}
          rows={2}
          aria-invalid={errors.description ? true : undefined}
          aria-describedby={errors.description ? "new-task-description-error" : "new-task-description-hint"}
          className={`resize-y rounded-md border px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 ${errors.description ? "border-red-500" : "border-slate-300"}`}
        />
        {errors.description ? (
          <p id="new-task-description-error" className="text-sm text-red-700">
            {errors.description}
          </p>
        ) : (
          <p id="new-task-description-hint" className="text-xs text-slate-500">
            Optional.
          </p>
        )}
      </div>
      <button
        type="submit"
        disabled={pending}
        aria-busy={pending || undefined}
        className="self-start rounded-md bg-indigo-600 px-4 py-2 font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-70"
      >
        Add task
      </button>
    </form>
  );
}
