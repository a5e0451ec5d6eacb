"use client";

import { revokeOtherSessions, revokeSession } from "./actions";
import { Outcome, Section } from "./section";
import { useAccountAction } from "./use-account-action";

export interface SessionView {
  id: string;
  device: string;
  address: string;
  created: string;
  lastActive: string;
  current: boolean;
}

const BUTTON =
  "shrink-0 rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-60";

export function SessionList({ sessions }: { sessions: SessionView[] }) {
  const { pending, outcome, run } = useAccountAction("Signed out.");
  const others = sessions.filter((session) => !session.current).length;
  return (
    <Section title="Where you're signed in" id="sessions-heading">
      <ul className="flex flex-col divide-y divide-slate-200" data-testid="session-list">
        {sessions.map((session) => (
          <li key={session.id} data-testid="session" data-current={session.current || undefined} className="flex flex-wrap items-center justify-between gap-3 py-3">
            <div className="min-w-0 text-sm">
              <p className="font-medium text-slate-900">
                {session.device}
                {session.current ? <span className="ml-2 rounded bg-indigo-50 px-1.5 py-0.5 text-xs font-semibold text-indigo-700">This device</span> : null}
              </p>
              <p className="text-slate-600">{session.address}</p>
              <p className="text-slate-500">
                Signed in {session.created} · Last active {session.lastActive}
              </p>
            </div>
            {session.current ? null : (
              <button type="button" disabled={pending} onClick={() => run(() => revokeSession(session.id))} className={BUTTON}>
                Sign out<span className="sr-only"> {session.device}, last active {session.lastActive}</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      <div className="mt-4 flex flex-col gap-3">
        <Outcome outcome={outcome} testId="sessions-outcome" />
        {others > 0 ? (
          <button type="button" disabled={pending} onClick={() => run(revokeOtherSessions)} className={`${BUTTON} self-start`}>
            Sign out all other sessions
          </button>
        ) : (
          <p className="text-sm text-slate-600">You are signed in on this device only.</p>
        )}
      </div>
    </Section>
  );
}
