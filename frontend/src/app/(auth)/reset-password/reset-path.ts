/** Where the mailed reset link lands: `?token=`, or `?error=INVALID_TOKEN` for a used or expired one. */
export const RESET_PATH = "/reset-password";
