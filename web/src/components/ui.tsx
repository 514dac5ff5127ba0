import { useEffect, useId, useRef, useState } from 'react';
import type {
  ButtonHTMLAttributes,
  FormEvent,
  InputHTMLAttributes,
  ReactNode,
  SelectHTMLAttributes,
  TextareaHTMLAttributes,
} from 'react';
import { ApiError, errorMessage } from '../api/client';

// ---------------------------------------------------------------------------------------------------
// Buttons

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';

export function Button({
  variant = 'secondary',
  busy = false,
  size,
  className,
  children,
  disabled,
  type = 'button',
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; busy?: boolean; size?: 'sm' }) {
  return (
    <button
      type={type}
      className={['btn', `btn-${variant}`, size === 'sm' ? 'btn-sm' : '', className ?? ''].join(' ').trim()}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <span className="spinner" role="status">
      <span className="visually-hidden">{label}</span>
    </span>
  );
}

// ---------------------------------------------------------------------------------------------------
// Form fields

interface FieldBase {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
}

function useFieldIds(error?: string | null, hint?: ReactNode) {
  const id = useId();
  // While an error is shown it replaces the hint (they usually say the same thing).
  const hintId = hint && !error ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(' ') || undefined;
  return { id, hintId, errorId, describedBy };
}

function FieldMessages({
  hint,
  hintId,
  error,
  errorId,
}: {
  hint?: ReactNode;
  hintId?: string;
  error?: string | null;
  errorId?: string;
}) {
  return (
    <>
      {hint && !error && (
        <p className="field-hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={errorId} role="alert">
          {error}
        </p>
      )}
    </>
  );
}

export function TextField({
  label,
  hint,
  error,
  className,
  ...input
}: FieldBase & InputHTMLAttributes<HTMLInputElement>) {
  const { id, hintId, errorId, describedBy } = useFieldIds(error, hint);
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={input.id ?? id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...input} />
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

export function TextArea({
  label,
  hint,
  error,
  ...input
}: FieldBase & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const { id, hintId, errorId, describedBy } = useFieldIds(error, hint);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...input} />
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

export function SelectField({
  label,
  hint,
  error,
  children,
  ...select
}: FieldBase & SelectHTMLAttributes<HTMLSelectElement>) {
  const { id, hintId, errorId, describedBy } = useFieldIds(error, hint);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...select}>
        {children}
      </select>
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

/** A search box with a visually hidden label and a search icon. */
export function SearchField({
  id,
  label,
  placeholder,
  value,
  onChange,
}: {
  id: string;
  label: string;
  placeholder: string;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <div className="field search-field">
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      <Icon name="search" className="search-icon" />
      <input
        id={id}
        type="search"
        placeholder={placeholder}
        value={value}
        onChange={(e) => onChange(e.currentTarget.value)}
      />
    </div>
  );
}

/**
 * A form's error message and its primary submit button: in a `.form-actions` row (with `children` after the
 * button), or with `block` alone at full width.
 */
export function FormSubmit({
  form,
  busy,
  label,
  block = false,
  disabled,
  children,
}: {
  form: string | null;
  busy: boolean;
  label: string;
  block?: boolean;
  disabled?: boolean;
  children?: ReactNode;
}) {
  const button = (
    <Button
      type="submit"
      variant="primary"
      busy={busy}
      disabled={disabled}
      className={block ? 'btn-block' : undefined}
    >
      {label}
    </Button>
  );
  return (
    <>
      <FormError message={form} />
      {block ? (
        button
      ) : (
        <div className="form-actions">
          {button}
          {children}
        </div>
      )}
    </>
  );
}

/** A checkbox presented as a switch (role="switch"), with its own inline error. */
export function Switch({
  label,
  description,
  checked,
  onChange,
  busy,
  disabled,
  error,
}: {
  label: string;
  description?: ReactNode;
  checked: boolean;
  onChange: (next: boolean) => void;
  busy?: boolean;
  disabled?: boolean;
  error?: string | null;
}) {
  const { id, hintId, errorId, describedBy } = useFieldIds(error, description);
  return (
    <div className="switch-field">
      <div className="switch-row">
        <input
          id={id}
          type="checkbox"
          role="switch"
          className="switch"
          checked={checked}
          disabled={disabled || busy}
          aria-busy={busy || undefined}
          aria-describedby={describedBy}
          aria-invalid={error ? true : undefined}
          onChange={(e) => onChange(e.currentTarget.checked)}
        />
        <label htmlFor={id}>{label}</label>
        {busy && <span className="spinner" aria-hidden="true" />}
      </div>
      <FieldMessages hint={description} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

// ---------------------------------------------------------------------------------------------------
// Cards

/**
 * A card titled by its <h2> (`headingId` labels it). A <section>, or with `onSubmit` a <form noValidate>.
 */
export function Card({
  headingId,
  title,
  className,
  onSubmit,
  children,
}: {
  headingId: string;
  title: ReactNode;
  className?: string;
  onSubmit?: (e: FormEvent<HTMLFormElement>) => void;
  children?: ReactNode;
}) {
  const cls = className ? `card ${className}` : 'card';
  const heading = (
    <h2 id={headingId} className="card-title">
      {title}
    </h2>
  );
  return onSubmit ? (
    <form className={cls} onSubmit={onSubmit} noValidate aria-labelledby={headingId}>
      {heading}
      {children}
    </form>
  ) : (
    <section className={cls} aria-labelledby={headingId}>
      {heading}
      {children}
    </section>
  );
}

// ---------------------------------------------------------------------------------------------------
// Feedback

export function Alert({
  kind = 'error',
  title,
  children,
  className,
}: {
  kind?: 'error' | 'warning' | 'info' | 'success';
  title?: ReactNode;
  children?: ReactNode;
  className?: string;
}) {
  const role = kind === 'error' ? 'alert' : 'status';
  return (
    <div className={`alert alert-${kind} ${className ?? ''}`} role={role}>
      {title && <p className="alert-title">{title}</p>}
      {children && <div className="alert-body">{children}</div>}
    </div>
  );
}

/** A form- or row-level error message (or nothing). */
export function FormError({ message, className }: { message?: ReactNode; className?: string }) {
  if (!message) return null;
  return (
    <p className={className ? `form-error ${className}` : 'form-error'} role="alert">
      {message}
    </p>
  );
}

/** Shows an API/network error (or nothing). */
export function ErrorText({ error, className }: { error: unknown; className?: string }) {
  if (!error) return null;
  return <FormError message={errorMessage(error)} className={className} />;
}

/** A load error with a way to try again. */
export function ErrorRetry({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <div className="stack">
      <ErrorText error={error} />
      <div>
        <Button onClick={onRetry}>Try again</Button>
      </div>
    </div>
  );
}

/**
 * The states of a loaded list: its error (with "Try again" when `onRetry` is given), `placeholder` while
 * loading, `empty` when there are no items, and otherwise `children(items)`.
 */
export function ListStates<T>({
  items,
  error,
  onRetry,
  loading = false,
  placeholder,
  empty,
  children,
}: {
  items: T[] | null | undefined;
  error: unknown;
  onRetry?: () => void;
  loading?: boolean;
  placeholder: ReactNode;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  if (error) return onRetry ? <ErrorRetry error={error} onRetry={onRetry} /> : <ErrorText error={error} />;
  if (loading || !items) return placeholder;
  if (items.length === 0) return empty;
  return children(items);
}

/** Field messages from a validation error; everything else goes to `form`. */
export function splitErrors(
  err: unknown,
  known: string[],
): { fields: Record<string, string>; form: string | null } {
  if (!err) return { fields: {}, form: null };
  if (err instanceof ApiError) {
    const fields = err.fields;
    const matched = Object.keys(fields).filter((k) => known.includes(k));
    const unmatched = Object.entries(fields).filter(([k]) => !known.includes(k));
    if (matched.length > 0) {
      return {
        fields,
        form: unmatched.length ? unmatched.map(([k, v]) => `${k}: ${v}`).join(' ') : null,
      };
    }
    if (unmatched.length) return { fields: {}, form: unmatched.map(([k, v]) => `${k}: ${v}`).join(' ') };
  }
  return { fields: {}, form: errorMessage(err) };
}

export function Skeleton({
  lines = 1,
  height,
  className,
}: {
  lines?: number;
  height?: number | string;
  className?: string;
}) {
  return (
    <div className={`skeleton-group ${className ?? ''}`} aria-hidden="true">
      {Array.from({ length: lines }, (_, i) => (
        <div key={i} className="skeleton" style={height ? { height } : undefined} />
      ))}
    </div>
  );
}

/**
 * A responsive table: a header cell per column (with `actions`, a last column headed "Actions" for screen
 * readers only) and `children` as the rows.
 */
export function DataTable({
  columns,
  actions = false,
  className,
  children,
}: {
  columns: string[];
  actions?: boolean;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className={className ? `table ${className}` : 'table'}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
            {actions && (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** Placeholder lines while a list loads, announced as `label`. */
export function LoadingLines({ label, lines, height }: { label: string; lines: number; height: number }) {
  return (
    <Loading label={label}>
      <Skeleton lines={lines} height={height} />
    </Loading>
  );
}

export function Loading({ label = 'Loading…', children }: { label?: string; children: ReactNode }) {
  return (
    <div aria-busy="true">
      <span className="visually-hidden" role="status">
        {label}
      </span>
      {children}
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
  icon = 'box',
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  icon?: string;
}) {
  return (
    <div className="empty">
      <Icon name={icon} className="empty-icon" />
      <p className="empty-title">{title}</p>
      {children && <div className="empty-text">{children}</div>}
      {action && <div className="empty-action">{action}</div>}
    </div>
  );
}

export function Badge({
  children,
  tone = 'neutral',
  title,
}: {
  children: ReactNode;
  tone?: 'neutral' | 'accent' | 'success' | 'warning' | 'danger';
  title?: string;
}) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

// ---------------------------------------------------------------------------------------------------
// Copy

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('Copy failed');
}

export function CopyButton({
  text,
  label = 'Copy',
  className,
}: {
  text: string;
  label?: string;
  className?: string;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onClick = async () => {
    try {
      await copyText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 2000);
  };
  return (
    <>
      <Button size="sm" variant="secondary" className={className} onClick={onClick}>
        <Icon name={state === 'copied' ? 'check' : 'copy'} />
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : label}
      </Button>
      <span className="visually-hidden" role="status">
        {state === 'copied'
          ? 'Copied to clipboard'
          : state === 'failed'
            ? 'Could not copy; select the text and copy it manually'
            : ''}
      </span>
    </>
  );
}

export function CodeBlock({ code, label, copyLabel }: { code: string; label: string; copyLabel?: string }) {
  return (
    <figure className="code-block">
      <figcaption>
        <span>{label}</span>
        <CopyButton text={code} label={copyLabel ?? 'Copy'} />
      </figcaption>
      <pre tabIndex={0} role="region" aria-label={label}>
        <code>{code}</code>
      </pre>
    </figure>
  );
}

// ---------------------------------------------------------------------------------------------------
// Icons (inline SVG, decorative)

const paths: Record<string, ReactNode> = {
  box: (
    <>
      <path d="M3 7.5 12 3l9 4.5v9L12 21l-9-4.5z" />
      <path d="M3 7.5 12 12l9-4.5M12 12v9" />
    </>
  ),
  key: (
    <>
      <circle cx="8" cy="15" r="4" />
      <path d="m11 12 9-9M17 6l3 3M15 8l2 2" />
    </>
  ),
  search: (
    <>
      <circle cx="11" cy="11" r="7" />
      <path d="m20 20-4-4" />
    </>
  ),
  list: <path d="M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01" />,
  users: (
    <>
      <circle cx="9" cy="8" r="4" />
      <path d="M2 21a7 7 0 0 1 14 0M16 4a4 4 0 0 1 0 8M22 21a7 7 0 0 0-4-6.3" />
    </>
  ),
  copy: (
    <>
      <rect x="9" y="9" width="12" height="12" rx="2" />
      <path d="M5 15V5a2 2 0 0 1 2-2h8" />
    </>
  ),
  check: <path d="m4 12 5 5L20 6" />,
  upload: <path d="M12 16V4M7 9l5-5 5 5M4 20h16" />,
  download: <path d="M12 4v12M7 11l5 5 5-5M4 20h16" />,
  folder: <path d="M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />,
  file: (
    <>
      <path d="M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z" />
      <path d="M14 3v6h6" />
    </>
  ),
  menu: <path d="M4 6h16M4 12h16M4 18h16" />,
  close: <path d="M6 6l12 12M18 6 6 18" />,
  warning: (
    <>
      <path d="M12 3 2 20h20z" />
      <path d="M12 10v4M12 17h.01" />
    </>
  ),
  plus: <path d="M12 5v14M5 12h14" />,
  back: <path d="M15 6l-6 6 6 6" />,
  plug: <path d="M9 3v5M15 3v5M6 8h12v3a6 6 0 0 1-12 0zM12 17v4" />,
};

export function Icon({ name, className }: { name: keyof typeof paths | string; className?: string }) {
  return (
    <svg
      className={`icon ${className ?? ''}`}
      viewBox="0 0 24 24"
      width="1em"
      height="1em"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {paths[name]}
    </svg>
  );
}
