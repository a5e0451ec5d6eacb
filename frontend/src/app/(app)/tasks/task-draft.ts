import type { TaskCreate } from "@/lib/api/client";

export const MAX_TITLE = 200;
export const MAX_DESCRIPTION = 2000;

/** What the create and edit forms send: a title and an optional description. */
export type TaskDraft = Required<Pick<TaskCreate, "title" | "description">>;

export interface DraftErrors {
  title?: string;
  description?: string;
}

/** The API's own limits, checked before sending. */
export function draftErrors(title: string, description: string): DraftErrors {
  return {
    ...(title.trim() === ""
      ? { title: "Enter a title." }
      : title.length > MAX_TITLE
        ? { title: `Use at most ${MAX_TITLE} characters.` }
        : {}),
    ...(description.length > MAX_DESCRIPTION ? { description: `Use at most ${MAX_DESCRIPTION} characters.` } : {}),
  };
}

export function toDraft(title: string, description: string): TaskDraft {
  return { title: title.trim(), description: description.trim() === "" ? null : description };
}
