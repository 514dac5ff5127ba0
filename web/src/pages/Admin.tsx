import { useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { SearchStatus, ServerSettings, Skill } from '../api/types';
import { useAuth } from '../auth';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import {
  Badge,
  Button,
  Card,
  EmptyState,
  ErrorRetry,
  ListStates,
  LoadingLines,
  Switch,
} from '../components/ui';
import { useAsync, useDocumentTitle, useRowActions } from '../lib/hooks';
import { Link } from '../router';
import { OAuthSettingsSection } from './AdminOAuth';
import { UpstreamSettingsSection } from './AdminUpstreams';
import { UsersSection } from './AdminUsers';

function SettingsSection() {
  const settings = useAsync<ServerSettings>(() => endpoints.settings(), []);
  const rows = useRowActions();
  const set = (key: keyof ServerSettings, value: boolean, message: string) =>
    rows.run(key, async () => {
      settings.setData(await endpoints.updateSettings({ [key]: value }));
      toast(message);
    });
  return (
    <Card headingId="settings-heading" title="Server settings">
      {settings.error ? (
        <ErrorRetry error={settings.error} onRetry={settings.reload} />
      ) : !settings.data ? (
        <LoadingLines label="Loading settings…" lines={1} height={36} />
      ) : (
        <Switch
          label="Allow running skill commands"
          description="Switches run_shell_command on or off for every user and skill on this server, at once. Each skill's own switch still applies when this is on."
          checked={settings.data.commands_enabled}
          busy={rows.busy === 'commands_enabled'}
          error={rows.errors.commands_enabled}
          onChange={(v) =>
            set('commands_enabled', v, v ? 'Commands are on for everybody' : 'Commands are off for everybody')
          }
        />
      )}
      {settings.data && (
        <Switch
          label="Users may add their own model providers"
          description="Lets every user configure OpenAI-compatible or Anthropic providers with their own API keys for their assistants. Their base URLs may not point at private or local addresses."
          checked={settings.data.user_model_providers}
          busy={rows.busy === 'user_model_providers'}
          error={rows.errors.user_model_providers}
          onChange={(v) =>
            set('user_model_providers', v, v ? 'Users may add providers' : 'Only admins add providers')
          }
        />
      )}
    </Card>
  );
}

const JOB_TONE = { pending: 'neutral', running: 'accent', done: 'success', failed: 'danger' } as const;

/** Search: what it runs on, how much of the index is embedded, the indexing jobs, and a re-index button. */
function SearchSection() {
  const status = useAsync<SearchStatus>(() => endpoints.searchStatus(), []);
  const rows = useRowActions();
  const reindex = () =>
    rows.run('reindex', async () => {
      await endpoints.reindexSearch();
      toast('Re-indexing in the background');
      status.reload();
    });
  const s = status.data;
  return (
    <Card headingId="search-heading" title="Search">
      {status.error ? (
        <ErrorRetry error={status.error} onRetry={status.reload} />
      ) : !s ? (
        <LoadingLines label="Loading search status…" lines={2} height={28} />
      ) : (
        <>
          <p>
            {s.mode === 'hybrid'
              ? `Hybrid search (words + meaning) with ${s.embedding_model}; vectors ranked ${s.vector_path === 'pgvector' ? 'by pgvector' : 'in the server (no pgvector)'}. ${s.embedded} of ${s.documents} documents embedded.`
              : `Full-text search only: no embeddings provider is configured (set EMBEDDINGS_BASE_URL and EMBEDDINGS_MODEL). ${s.documents} documents indexed.`}
          </p>
          {s.jobs.length > 0 && (
            <ul className="share-list">
              {s.jobs.slice(0, 5).map((j) => (
                <li key={j.id}>
                  <div className="share-info">
                    <span>
                      {j.kind} · {j.done}
                      {j.total !== null ? ` of ${j.total}` : ''} · attempt {j.attempts}
                    </span>
                    {j.last_error && <span className="muted small">{j.last_error}</span>}
                  </div>
                  <Badge tone={JOB_TONE[j.status]}>{j.status}</Badge>
                </li>
              ))}
            </ul>
          )}
          <Button onClick={reindex} busy={rows.busy === 'reindex'}>
            Re-index everything
          </Button>
          <Button onClick={status.reload}>Refresh</Button>
        </>
      )}
    </Card>
  );
}

function SharedSkillsSection() {
  const [items, setItems] = useState<Skill[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const rows = useRowActions();

  useEffect(() => {
    let live = true;
    endpoints.listSkills({ scope: 'own', include_disabled: true, limit: 100 }).then(
      (p) => live && setItems(p.items),
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, []);

  const toggle = (s: Skill, shared: boolean) =>
    rows.run(s.name, async () => {
      const next = await endpoints.updateSkill(s.name, { shared });
      setItems((prev) => prev?.map((x) => (x.id === s.id ? next : x)) ?? prev);
    });

  return (
    <Card headingId="shared-heading" title="Shared skills">
      <p className="muted small">
        A shared skill is offered to every user on this server (they can hide it). Only your own skills can be
        shared.
      </p>
      <ListStates
        items={items}
        error={error}
        placeholder={<LoadingLines label="Loading skills…" lines={3} height={36} />}
        empty={
          <EmptyState
            title="You have no skills to share"
            action={
              <Link to="/skills/new" className="btn btn-secondary">
                Upload a skill
              </Link>
            }
          />
        }
      >
        {(skills) => (
          <ul className="share-list">
            {skills.map((s) => (
              <li key={s.id}>
                <div className="share-info">
                  <Link to={`/skills/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                  <span className="muted small">{s.description}</span>
                </div>
                <Switch
                  label={`Share ${s.name}`}
                  checked={s.shared}
                  busy={rows.busy === s.name}
                  error={rows.errors[s.name]}
                  onChange={(v) => toggle(s, v)}
                />
              </li>
            ))}
          </ul>
        )}
      </ListStates>
    </Card>
  );
}

export function AdminPage() {
  useDocumentTitle('Admin');
  const { user } = useAuth();
  if (!user?.is_admin) {
    return (
      <>
        <PageHeader title="Admin" />
        <EmptyState icon="users" title="Administrators only">
          <p>You need an administrator account to manage users and shared skills.</p>
        </EmptyState>
      </>
    );
  }
  return (
    <>
      <PageHeader
        title="Admin"
        description="Manage who can use this server and which skills everyone gets."
      />
      <UsersSection />
      <SettingsSection />
      <OAuthSettingsSection />
      <SearchSection />
      <UpstreamSettingsSection />
      <SharedSkillsSection />
    </>
  );
}
