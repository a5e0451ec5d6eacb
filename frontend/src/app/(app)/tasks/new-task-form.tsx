"use client";

import { useRef, useState, type FormEvent } from "react";

import { MAX_DESCRIPTION, MAX_TITLE, draftErrors, toDraft, type DraftErrors, type TaskDraft } from "./task-draft";
import type { CreateResult } from "./use-tasks";

/** A random key; `crypto.randomUUID` exists only in secure contexts, `getRandomValues` everywhere. */
function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** One submission: its Idempotency-Key and the field values it sent. */
interface Attempt {
  key: string;
  title: string;
  description: string;
}

export function NewTaskForm({ onCreate }: { onCreate: (draft: TaskDraft, idempotencyKey: string) => Promise<CreateResult> }) {
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<DraftErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  // A submission that may not have reached the server: Retry sends it again with the same key.
  const [failed, setFailed] = useState<{ attempt: Attempt; message: string } | null>(null);
  const [pending, setPending] = useState(false);
  const titleRef = useRef<HTMLInputElement>(null);

  /** Sends `attempt`; the fields are cleared on success only if they still hold what it sent. */
  async function send(attempt: Attempt) {
    const fieldsHoldAttempt = attempt.title === title && attempt.description === description;
    setPending(true);
    setFormError(null);
    setFailed(null);
    const result = await onCreate(toDraft(attempt.title, attempt.description), attempt.key);
    setPending(false);
    if (!result.ok) {
      if (result.retryable) setFailed({ attempt, message: result.message });
      else setFormError(result.message);
      return;
    }
    if (fieldsHoldAttempt) {
      setTitle("");
      setDescription("");
      setErrors({});
    }
    titleRef.current?.focus();
  }

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
    // Submitting the same text again after a failure is a retry of it: same key, so one task at most.
    const previous = failed?.attempt;
    const key = previous && previous.title === title && previous.description === description ? previous.key : newIdempotencyKey();
    await send({ key, title, description });
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
      {failed ? (
        <div role="alert" data-testid="create-error" className="flex flex-wrap items-center gap-x-3 gap-y-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          <p id="create-retry-message" className="min-w-0 flex-1 break-words">
            Couldn&apos;t save “{failed.attempt.title.trim()}”. {failed.message}
          </p>
          <button
            type="button"
            onClick={() => {
              if (!pending) void send(failed.attempt);
            }}
            aria-describedby="create-retry-message"
            className="rounded-md border border-red-300 bg-white px-3 py-1.5 text-sm font-medium text-red-800 hover:bg-red-100 focus-visible:outline-2 focus-visible:outline-red-600"
          >
            Retry
          </button>
        </div>
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
          readOnly={pending}
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
          readOnly={pending}
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
