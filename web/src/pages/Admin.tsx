import { useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { ServerSettings, Skill } from '../api/types';
import { useAuth } from '../auth';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import { Card, EmptyState, ErrorRetry, ListStates, LoadingLines, Switch } from '../components/ui';
import { useAsync, useDocumentTitle, useRowActions } from '../lib/hooks';
import { Link } from '../router';
import { UpstreamSettingsSection } from './AdminUpstreams';
import { UsersSection } from './AdminUsers';

function SettingsSection() {
  const settings = useAsync<ServerSettings>(() => endpoints.settings(), []);
  const rows = useRowActions();
  const set = (patch: Partial<ServerSettings>) =>
    rows.run('commands_enabled', async () => {
      settings.setData(await endpoints.updateSettings(patch));
      toast(patch.commands_enabled ? 'Commands are on for everybody' : 'Commands are off for everybody');
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
          onChange={(v) => set({ commands_enabled: v })}
        />
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
      <UpstreamSettingsSection />
      <SharedSkillsSection />
    </>
  );
}
