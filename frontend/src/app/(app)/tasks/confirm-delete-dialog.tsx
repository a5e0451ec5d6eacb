"use client";

import { useEffect, useRef } from "react";

import type { Task } from "@/lib/api/client";

/** A modal confirmation; the native <dialog> traps focus and closes on Escape. */
export function ConfirmDeleteDialog({ task, onConfirm, onCancel }: { task: Task | null; onConfirm: (task: Task) => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (task && !dialog.open) dialog.showModal();
    if (!task && dialog.open) dialog.close();
  }, [task]);

  return (
    <dialog
      ref={ref}
      onClose={onCancel}
      aria-labelledby="delete-dialog-title"
      aria-describedby="delete-dialog-description"
      data-testid="delete-dialog"
      className="m-auto w-[calc(100%-2rem)] max-w-sm rounded-xl bg-white p-6 shadow-xl"
    >
      <h2 id="delete-dialog-title" className="text-lg font-semibold">
        Delete task?
      </h2>
      <p id="delete-dialog-description" className="mt-2 break-words text-sm text-slate-600">
        “{task?.title}” will be deleted permanently.
      </p>
      <div className="mt-6 flex justify-end gap-2">
        <button
          type="button"
          onClick={onCancel}
          autoFocus
          className="rounded-md border border-slate-300 px-4 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600"
        >
          Cancel
        </button>
        <button
          type="button"
          onClick={() => task && onConfirm(task)}
          className="rounded-md bg-red-600 px-4 py-2 text-sm font-semibold text-white hover:bg-red-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600"
        >
          Delete
        </button>
      </div>
    </dialog>
  );
}
