import type { ReactNode } from "react";

/** One part of the account page, titled, in a card. */
export function Section({ title, id, children }: { title: string; id: string; children: ReactNode }) {
  return (
    <section aria-labelledby={id} className="rounded-xl border border-slate-200 bg-white p-4 shadow-sm sm:p-6">
      <h2 id={id} className="mb-4 text-lg font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

/** An action's outcome under its form: announced, green when done, red when not. */
export function Outcome({ outcome, testId }: { outcome: { ok: boolean; message: string } | null; testId: string }) {
  if (!outcome) return null;
  return (
    <p
      role={outcome.ok ? "status" : "alert"}
      data-testid={testId}
      className={`rounded-md px-3 py-2 text-sm ${outcome.ok ? "bg-green-50 text-green-800" : "bg-red-50 text-red-800"}`}
    >
      {outcome.message}
    </p>
  );
}
