/** The account forms' submit buttons: a primary one, and a destructive one. */
export const SAVE_BUTTON =
  "self-start rounded-md bg-indigo-600 px-4 py-2 font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-60";
export const DANGER_BUTTON =
  "self-start rounded-md bg-red-600 px-4 py-2 font-semibold text-white shadow-sm hover:bg-red-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600 disabled:opacity-60";
