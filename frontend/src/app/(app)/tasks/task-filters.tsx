"use client";

import type { TaskSort, TaskStatusFilter } from "@/lib/api/client";

const STATUSES: { value: TaskStatusFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "pending", label: "Pending" },
  { value: "completed", label: "Completed" },
];

const SORTS: { value: TaskSort; label: string }[] = [
  { value: "-created_at", label: "Newest first" },
  { value: "created_at", label: "Oldest first" },
  { value: "title", label: "Title A–Z" },
  { value: "-title", label: "Title Z–A" },
  { value: "-updated_at", label: "Recently updated" },
  { value: "updated_at", label: "Least recently updated" },
];

interface Props {
  status: TaskStatusFilter;
  query: string;
  sort: TaskSort;
  onStatus: (status: TaskStatusFilter) => void;
  onQuery: (query: string) => void;
  onSort: (sort: TaskSort) => void;
}

export function TaskFilters({ status, query, sort, onStatus, onQuery, onSort }: Props) {
  return (
    <div className="flex flex-col gap-3">
      <div role="radiogroup" aria-label="Show" className="flex w-full rounded-lg border border-slate-300 bg-white p-1 sm:w-auto">
        {STATUSES.map((option) => (
          <label key={option.value} className="relative flex-1">
            <input
              type="radio"
              name="status"
              value={option.value}
              checked={status === option.value}
              onChange={() => onStatus(option.value)}
              className="peer absolute inset-0 cursor-pointer appearance-none rounded-md opacity-0"
            />
            <span className="block rounded-md px-3 py-1.5 text-center text-sm font-medium text-slate-600 peer-checked:bg-indigo-600 peer-checked:text-white peer-focus-visible:ring-2 peer-focus-visible:ring-indigo-500">
              {option.label}
            </span>
          </label>
        ))}
      </div>
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end">
        <div className="flex flex-1 flex-col gap-1">
          <label htmlFor="task-search" className="text-sm font-medium text-slate-700">
            Search tasks
          </label>
          <input
            id="task-search"
            type="search"
            value={query}
            onChange={(event) => onQuery(event.target.value)}
            placeholder="Title or description"
            maxLength={200}
            autoComplete="off"
            className="rounded-md border border-slate-300 bg-white px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
          />
        </div>
        <div className="flex flex-col gap-1">
          <label htmlFor="task-sort" className="text-sm font-medium text-slate-700">
            Sort
          </label>
          <select
            id="task-sort"
            value={sort}
            onChange={(event) => {
              const chosen = SORTS.find((option) => option.value === event.target.value);
              if (chosen) onSort(chosen.value);
            }}
            className="rounded-md border border-slate-300 bg-white px-3 py-2 text-base outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
          >
            {SORTS.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
        </div>
      </div>
    </div>
  );
}
