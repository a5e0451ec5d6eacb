"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { SubmitButton } from "@/components/submit-button";
import { TextField } from "@/components/text-field";
import { authClient } from "@/lib/auth-client";

import { authFailure, compact, emailError, focusFirstInvalid, type FieldErrors } from "../auth-form-helpers";

type Field = "email" | "password";

export function SignInForm({ next }: { next: string | null }) {
  const router = useRouter();
  const [errors, setErrors] = useState<FieldErrors<Field>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

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
    const failure = await authFailure((options) => authClient.signIn.email({ email, password }, options));
    if (failure) {
      setFormError(failure);
      setPending(false);
      return;
    }
    router.replace(next ?? "/tasks");
    router.refresh();
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
        <SubmitButton pending={pending} pendingLabel="Signing in…">
          Sign in
        </SubmitButton>
      </form>
      <p className="mt-6 text-center text-sm text-slate-600">
        New to Tandem?{" "}
        <Link href={signUpHref} className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Create an account
        </Link>
      </p>
    </>
  );
}
