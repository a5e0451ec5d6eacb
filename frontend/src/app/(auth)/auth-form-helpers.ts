const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 128;
export const MAX_NAME = 100;

export type FieldErrors<K extends string> = Partial<Record<K, string>>;

export function emailError(email: string): string | undefined {
  if (!email) return "Enter your email address.";
  if (!EMAIL.test(email)) return "Enter a valid email address, like name@example.com.";
  return undefined;
}

/** Removes undefined entries, so an empty object means "valid". */
export function compact<K extends string>(errors: Record<K, string | undefined>): FieldErrors<K> {
  return Object.fromEntries(Object.entries(errors).filter(([, message]) => message)) as FieldErrors<K>;
}

/** Moves focus to the first invalid field, in form order. */
export function focusFirstInvalid(form: HTMLFormElement, errors: FieldErrors<string>): void {
  for (const element of Array.from(form.elements)) {
    if (element instanceof HTMLInputElement && errors[element.name]) {
      element.focus();
      return;
    }
  }
}

interface AuthError {
  status: number;
  code?: string | undefined;
}

/** A clear sentence for a failed Better Auth call. */
export function authErrorMessage(error: AuthError, retryAfter: string | null): string {
  if (error.status === 429) {
    const seconds = Number(retryAfter);
    return Number.isFinite(seconds) && seconds > 0
      ? `Too many attempts. Please wait ${seconds} second${seconds === 1 ? "" : "s"} and try again.`
      : "Too many attempts. Please wait a minute and try again.";
  }
  switch (error.code) {
    case "INVALID_EMAIL_OR_PASSWORD":
      return "Incorrect email or password.";
    case "USER_ALREADY_EXISTS":
    case "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL":
      return "An account with this email already exists. Sign in instead, or use another email.";
    case "PASSWORD_TOO_SHORT":
      return `Use at least ${MIN_PASSWORD} characters for your password.`;
    case "PASSWORD_TOO_LONG":
      return `Use at most ${MAX_PASSWORD} characters for your password.`;
    case "INVALID_EMAIL":
      return "Enter a valid email address.";
    case "EMAIL_NOT_VERIFIED":
      return "Verify your email address first: open the link we sent you when you signed up.";
    case "INVALID_PASSWORD":
      return "That is not your current password.";
    case "INVALID_TOKEN":
      return "This link has expired or was already used. Ask for a new one.";
    case "PASSWORD_REQUIRED":
      return "Enter your password.";
    case "INVALID_ORIGIN":
    case "MISSING_OR_NULL_ORIGIN":
      return "This address is not trusted by the server. Open Tandem from its usual address.";
  }
  if (error.status === 401) return "Incorrect email or password.";
  if (error.status === 0) return "Could not reach the server. Check your connection and try again.";
  return "Something went wrong. Please try again.";
}

type OnError = (context: { response: Response }) => void;

/** Checks a new password against the server's rules (auth.ts). */
export function newPasswordError(password: string): string | undefined {
  if (!password) return "Choose a password.";
  if (password.length < MIN_PASSWORD) return `Use at least ${MIN_PASSWORD} characters.`;
  if (password.length > MAX_PASSWORD) return `Use at most ${MAX_PASSWORD} characters.`;
  return undefined;
}

/**
 * Runs a Better Auth client call; the message to show when it failed, or null.
 * Better Auth sends its rate-limit wait in X-Retry-After, read here for the message.
 */
export async function authFailure(
  call: (options: { onError: OnError }) => Promise<{ error: AuthError | null }>,
): Promise<string | null> {
  let retryAfter: string | null = null;
  try {
    const { error } = await call({
      onError: ({ response }) => void (retryAfter = response.headers.get("X-Retry-After")),
    });
    return error ? authErrorMessage(error, retryAfter) : null;
  } catch {
    return authErrorMessage({ status: 0 }, null);
  }
}
