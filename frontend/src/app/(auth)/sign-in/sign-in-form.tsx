"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { SubmitButton } from "@/components/submit-button";
import { TextField } from "@/components/text-field";
import { authClient } from "@/lib/auth-client";

import { authFailure, compact, emailError, focusFirstInvalid, type FieldErrors } from "../auth-form-helpers";
import { VERIFIED_PATH } from "../check-your-email";

type Field = "email" | "password";

export function SignInForm({ next }: { next: string | null }) {
  const router = useRouter();
  const [errors, setErrors] = useState<FieldErrors<Field>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  // Set when the password was right but the address is not verified yet: offers a new link.
  const [unverified, setUnverified] = useState<string | null>(null);
  const [resent, setResent] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const email = String(data.get("email") ?? "").trim();
    const password = String(data.get("password") ?? "");
    const found = compact<Field>({
      email: emailError(email),
      password: password ? undefined : "Enter your password.",
    });
    setErrors(found);
    setFormError(null);
    if (Object.keys(found).length > 0) {
      focusFirstInvalid(form, found);
      return;
    }

    setPending(true);
    setResent(null);
    let code: string | undefined;
    const failure = await authFailure(async (options) => {
      const result = await authClient.signIn.email({ email, password }, options);
      code = result.error?.code;
      return result;
    });
    if (failure) {
      setFormError(failure);
      setUnverified(code === "EMAIL_NOT_VERIFIED" ? email : null);
      setPending(false);
      return;
    }
    router.replace(next ?? "/tasks");
    router.refresh();
  }

  async function resend() {
    if (!unverified) return;
    setPending(true);
    const failure = await authFailure((options) =>
      authClient.sendVerificationEmail({ email: unverified, callbackURL: VERIFIED_PATH }, options),
    );
    setPending(false);
    setResent(failure ?? "We sent a new link. Open it within an hour to sign in.");
  }

  const signUpHref = next ? `/sign-up?next=${encodeURIComponent(next)}` : "/sign-up";
  return (
    <>
      <h1 className="mb-6 text-xl font-semibold">Sign in</h1>
      <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4" aria-describedby={formError ? "form-error" : undefined}>
        {formError ? (
          <p id="form-error" role="alert" data-testid="form-error" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {formError}
          </p>
        ) : null}
        <TextField name="email" label="Email" type="email" autoComplete="email" inputMode="email" required error={errors.email} />
        <TextField name="password" label="Password" type="password" autoComplete="current-password" required error={errors.password} />
        {unverified ? (
          <div className="flex flex-col gap-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
            <button
              type="button"
              onClick={resend}
              disabled={pending}
              className="self-start font-medium text-indigo-700 underline underline-offset-2 disabled:opacity-60"
            >
              Send the link again
            </button>
            {resent ? (
              <p role="status" data-testid="resend-status">
                {resent}
              </p>
            ) : null}
          </div>
        ) : null}
        <SubmitButton pending={pending} pendingLabel="Signing in…">
          Sign in
        </SubmitButton>
      </form>
      <p className="mt-4 text-center text-sm">
        <Link href="/forgot-password" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Forgot password?
        </Link>
      </p>
      <p className="mt-6 text-center text-sm text-slate-600">
        New to Tandem?{" "}
        <Link href={signUpHref} className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Create an account
        </Link>
      </p>
    </>
  );
}
