import { useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { Skill } from '../api/types';
import { PageHeader } from '../components/Layout';
import {
  Badge,
  Button,
  EmptyState,
  ErrorText,
  Icon,
  ListStates,
  Loading,
  SearchField,
  Skeleton,
} from '../components/ui';
import { formatBytes, formatRelative, plural } from '../lib/format';
import { useAction, useDebounced, useDocumentTitle } from '../lib/hooks';
import { mcpUnlistedWarning } from '../lib/mcp';
import { Link, setQuery, useLocation } from '../router';
import { BestMatches } from './SearchResults';

type Scope = 'all' | 'own' | 'shared';
const SCOPES: { value: Scope; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'own', label: 'Mine' },
  { value: 'shared', label: 'Shared with me' },
];

/** Marks a skill (or version) that MCP clients' skills/list does not show; the full reason is on the skill page. */
export function McpUnlistedBadge() {
  return (
    <Badge tone="warning" title="MCP clients' skills/list will not show this skill: see its warnings">
      <Icon name="warning" />
      Not in MCP skills/list
    </Badge>
  );
}

export function SkillBadges({ skill }: { skill: Skill }) {
  return (
    <span className="badges">
      <Badge
        tone="accent"
        title={skill.version_label ? `Version ${skill.current_version}: ${skill.version_label}` : undefined}
      >
        v{skill.current_version}
        {skill.version_label ? ` · ${skill.version_label}` : ''}
      </Badge>
      {skill.origin === 'shared' && <Badge>Shared with you</Badge>}
      {skill.origin === 'own' && skill.shared && <Badge tone="success">Shared</Badge>}
      {!skill.enabled && <Badge tone="danger">Disabled</Badge>}
      {skill.hidden && <Badge>Hidden</Badge>}
      {mcpUnlistedWarning(skill.warnings) && <McpUnlistedBadge />}
      {skill.warnings.length > 0 && (
        <Badge tone="warning">
          <Icon name="warning" />
          {plural(skill.warnings.length, 'warning')}
        </Badge>
      )}
    </span>
  );
}

function SkillCard({ skill }: { skill: Skill }) {
  return (
    <li className="skill-card">
      <div className="skill-card-head">
        <h2 className="skill-card-title">
          <Link to={`/skills/${encodeURIComponent(skill.name)}`} className="stretched-link">
            {skill.name}
          </Link>
        </h2>
        <SkillBadges skill={skill} />
      </div>
      <p className="skill-card-desc">{skill.description || <em className="muted">No description</em>}</p>
      <p className="skill-card-meta">
        <span>{plural(skill.file_count, 'file')}</span>
        <span>{formatBytes(skill.size_bytes)}</span>
        <span title={skill.updated_at}>Updated {formatRelative(skill.updated_at)}</span>
      </p>
    </li>
  );
}

function SkillListSkeleton() {
  return (
    <Loading label="Loading skills…">
      <ul className="skill-grid" aria-hidden="true">
        {Array.from({ length: 6 }, (_, i) => (
          <li key={i} className="skill-card skeleton-card">
            <Skeleton height={20} className="w-40" />
            <Skeleton lines={2} height={12} />
            <Skeleton height={12} className="w-60" />
          </li>
        ))}
      </ul>
    </Loading>
  );
}

export function SkillsPage() {
  useDocumentTitle('Skills');
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const scope = (SCOPES.some((s) => s.value === search.get('scope')) ? search.get('scope') : 'all') as Scope;
  const includeDisabled = search.get('disabled') !== '0';

  const [text, setText] = useState(q);
  const debounced = useDebounced(text, 250);
  useEffect(() => {
    // Only the debounced input drives the URL (and so the query).
    if (debounced.trim() !== q) setQuery({ q: debounced.trim() || null });
  }, [debounced]);
  useEffect(() => {
    // Back/forward changed the query: reflect it in the box.
    setText((t) => (t.trim() === q ? t : q));
  }, [q]);

  const { items, cursor, error, retry, more, loadMore } = useSkillList(q, scope, includeDisabled);

  const filtered = q !== '' || scope !== 'all';

  return (
    <>
      <PageHeader
        title="Skills"
        description="Your skill library. Enabled skills are offered to every MCP client you connect."
        actions={
          <Link to="/skills/new" className="btn btn-primary">
            <Icon name="upload" />
            Upload a skill
          </Link>
        }
      />
      <SkillFilters text={text} onText={setText} scope={scope} includeDisabled={includeDisabled} />

      {q !== '' && <BestMatches q={q} />}
      <div className="results">
        <ListStates
          items={items}
          error={error}
          onRetry={retry}
          placeholder={<SkillListSkeleton />}
          empty={
            filtered ? (
              <EmptyState icon="search" title="No skills match">
                <p>Try another search term, or show all skills.</p>
                <Button
                  onClick={() => {
                    setText('');
                    setQuery({ q: null, scope: null, disabled: null });
                  }}
                >
                  Clear filters
                </Button>
              </EmptyState>
            ) : (
              <EmptyState
                title="No skills yet"
                action={
                  <Link to="/skills/new" className="btn btn-primary">
                    <Icon name="upload" />
                    Upload your first skill
                  </Link>
                }
              >
                <p>
                  A skill is a folder with a <code>SKILL.md</code> and any scripts or reference files it
                  needs. Drop one here as a folder or a zip.
                </p>
              </EmptyState>
            )
          }
        >
          {(skills) => (
            <>
              <p className="visually-hidden" role="status">
                {plural(skills.length, 'skill')} shown
              </p>
              <ul className="skill-grid">
                {skills.map((s) => (
                  <SkillCard key={s.id} skill={s} />
                ))}
              </ul>
              {cursor && (
                <div className="load-more">
                  <Button onClick={loadMore} busy={more.busy}>
                    Load more
                  </Button>
                  <ErrorText error={more.error} />
                </div>
              )}
            </>
          )}
        </ListStates>
      </div>
    </>
  );
}

/** The listed skills for a query, a page at a time. */
function useSkillList(q: string, scope: Scope, includeDisabled: boolean) {
  const [items, setItems] = useState<Skill[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const more = useAction();
  const [nonce, setNonce] = useState(0);

  useEffect(() => {
    const ctrl = new AbortController();
    setError(null);
    setItems(null);
    endpoints
      .listSkills({ q: q || undefined, scope, include_disabled: includeDisabled, limit: 30 })
      .then((page) => {
        if (ctrl.signal.aborted) return;
        setItems(page.items);
        setCursor(page.next_cursor);
      })
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setError(err);
      });
    return () => ctrl.abort();
  }, [q, scope, includeDisabled, nonce]);

  const loadMore = async () => {
    if (!cursor) return;
    await more.run(async () => {
      const page = await endpoints.listSkills({
        q: q || undefined,
        scope,
        include_disabled: includeDisabled,
        cursor,
        limit: 30,
      });
      setItems((prev) => [...(prev ?? []), ...page.items]);
      setCursor(page.next_cursor);
    });
  };

  return { items, cursor, error, retry: () => setNonce((n) => n + 1), more, loadMore };
}

/** The search box and filters; they live in the URL. */
function SkillFilters({
  text,
  onText,
  scope,
  includeDisabled,
}: {
  text: string;
  onText: (text: string) => void;
  scope: Scope;
  includeDisabled: boolean;
}) {
  return (
    <form
      className="toolbar"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        setQuery({ q: text.trim() || null });
      }}
    >
      <SearchField
        id="skill-search"
        label="Search skills"
        placeholder="Search skills…"
        value={text}
        onChange={onText}
      />
      <fieldset className="segmented">
        <legend className="visually-hidden">Show</legend>
        {SCOPES.map((s) => (
          <label key={s.value} className={scope === s.value ? 'is-checked' : ''}>
            <input
              type="radio"
              name="scope"
              value={s.value}
              checked={scope === s.value}
              onChange={() => setQuery({ scope: s.value === 'all' ? null : s.value })}
            />
            {s.label}
          </label>
        ))}
      </fieldset>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={includeDisabled}
          onChange={(e) => setQuery({ disabled: e.currentTarget.checked ? null : '0' })}
        />
        Include disabled
      </label>
    </form>
  );
}
