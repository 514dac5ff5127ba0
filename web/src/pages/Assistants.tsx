import { useState } from 'react';
import type { FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { Assistant, AssistantInput, ChatSession, ModelProvider, Skill } from '../api/types';
import { useAuth } from '../auth';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import {
  Button,
  Card,
  ErrorRetry,
  ListStates,
  LoadingLines,
  SelectField,
  Switch,
  TextArea,
  TextField,
  EmptyState,
} from '../components/ui';
import { useAsync, useDocumentTitle } from '../lib/hooks';
import { Link } from '../router';

/** Model providers: admins add them for everybody; users their own when the admin setting allows it. */
function ProvidersSection({ providers, reload }: { providers: ModelProvider[]; reload: () => void }) {
  const [form, setForm] = useState({
    name: '',
    kind: 'openai-compatible' as ModelProvider['kind'],
    base_url: '',
    api_key: '',
  });
  const [error, setError] = useState<string | null>(null);
  const [checks, setChecks] = useState<Record<string, string>>({});
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await endpoints.createProvider({ ...form, api_key: form.api_key || undefined });
      setForm({ name: '', kind: 'openai-compatible', base_url: '', api_key: '' });
      toast('Provider added');
      reload();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const check = async (p: ModelProvider) => {
    setChecks((c) => ({ ...c, [p.id]: 'Checking…' }));
    try {
      const r = await endpoints.checkProvider(p.id);
      setChecks((c) => ({
        ...c,
        [p.id]: r.ok ? `OK: ${r.models.slice(0, 8).join(', ') || 'no models listed'}` : `Failed: ${r.error}`,
      }));
    } catch (err) {
      setChecks((c) => ({ ...c, [p.id]: errorMessage(err) }));
    }
  };
  const remove = async (p: ModelProvider) => {
    try {
      await endpoints.deleteProvider(p.id);
      reload();
    } catch (err) {
      toast(errorMessage(err));
    }
  };
  return (
    <Card headingId="providers-heading" title="Model providers">
      <ul className="share-list">
        {providers.map((p) => (
          <li key={p.id}>
            <div className="share-info">
              <strong>{p.name}</strong>
              <span className="muted small">
                {p.kind} · {p.base_url} · {p.scope} · key {p.api_key ?? 'none'}
              </span>
              {checks[p.id] && <span className="small">{checks[p.id]}</span>}
            </div>
            <Button onClick={() => void check(p)}>Check</Button>
            {p.scope !== 'environment' && <Button onClick={() => void remove(p)}>Delete</Button>}
          </li>
        ))}
      </ul>
      <form onSubmit={(e) => void add(e)} aria-label="Add a model provider">
        <TextField
          label="Name"
          value={form.name}
          required
          onChange={(e) => setForm({ ...form, name: e.target.value })}
        />
        <SelectField
          label="Kind"
          value={form.kind}
          onChange={(e) => setForm({ ...form, kind: e.target.value as ModelProvider['kind'] })}
        >
          <option value="openai-compatible">OpenAI-compatible</option>
          <option value="anthropic">Anthropic</option>
        </SelectField>
        <TextField
          label="Base URL"
          value={form.base_url}
          required
          placeholder="https://api.openai.com/v1"
          onChange={(e) => setForm({ ...form, base_url: e.target.value })}
        />
        <TextField
          label="API key"
          type="password"
          autoComplete="off"
          value={form.api_key}
          hint="Kept encrypted; never shown again"
          onChange={(e) => setForm({ ...form, api_key: e.target.value })}
        />
        {error && (
          <p className="error small" role="alert">
            {error}
          </p>
        )}
        <Button type="submit" variant="primary">
          Add provider
        </Button>
      </form>
    </Card>
  );
}

const emptyAssistant: AssistantInput = {
  name: '',
  description: '',
  provider_id: null,
  model: '',
  system_prompt: '',
  max_steps: 10,
  skills: 'all',
  run_scripts: false,
  upstream_tools: [],
};

/** Create or edit an assistant: model, prompt, settings, and the skills and tools it may use. */
function AssistantForm({
  initial,
  providers,
  skills,
  onSaved,
  onCancel,
}: {
  initial: Assistant | null;
  providers: ModelProvider[];
  skills: Skill[];
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { user } = useAuth();
  // A new assistant starts on the environment's provider when there is one, else on the first listed.
  const defaultProvider = providers.some((p) => p.scope === 'environment')
    ? null
    : (providers[0]?.id ?? null);
  const [a, setA] = useState<AssistantInput>(initial ?? { ...emptyAssistant, provider_id: defaultProvider });
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body = { ...a, temperature: a.temperature ?? null, max_tokens: a.max_tokens ?? null };
      if (initial) await endpoints.updateAssistant(initial.id, body);
      else await endpoints.createAssistant(body);
      toast(initial ? 'Assistant saved' : 'Assistant created');
      onSaved();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} aria-label={initial ? `Edit ${initial.name}` : 'New assistant'}>
      <ModelFields a={a} setA={setA} providers={providers} />
      <ToolFields a={a} setA={setA} skills={skills} isAdmin={!!user?.is_admin} />
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <Button type="submit" variant="primary">
        {initial ? 'Save' : 'Create assistant'}
      </Button>{' '}
      <Button onClick={onCancel}>Cancel</Button>
    </form>
  );
}

interface FieldsProps {
  a: AssistantInput;
  setA: (a: AssistantInput) => void;
}

function ModelFields({ a, setA, providers }: FieldsProps & { providers: ModelProvider[] }) {
  return (
    <>
      <TextField
        label="Name (the model id)"
        value={a.name ?? ''}
        required
        pattern="[a-z0-9][a-z0-9._-]{0,63}"
        onChange={(e) => setA({ ...a, name: e.target.value })}
      />
      <TextField
        label="Description"
        value={a.description ?? ''}
        onChange={(e) => setA({ ...a, description: e.target.value })}
      />
      <SelectField
        label="Provider"
        value={a.provider_id ?? 'env'}
        onChange={(e) => setA({ ...a, provider_id: e.target.value === 'env' ? null : e.target.value })}
      >
        {providers.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </SelectField>
      <TextField
        label="Model"
        value={a.model ?? ''}
        required
        onChange={(e) => setA({ ...a, model: e.target.value })}
      />
      <TextArea
        label="System prompt"
        rows={5}
        value={a.system_prompt ?? ''}
        onChange={(e) => setA({ ...a, system_prompt: e.target.value })}
      />
      <TextField
        label="Temperature"
        type="number"
        step="0.1"
        min="0"
        max="2"
        value={a.temperature ?? ''}
        onChange={(e) => setA({ ...a, temperature: e.target.value === '' ? null : Number(e.target.value) })}
      />
      <TextField
        label="Max tokens"
        type="number"
        min="1"
        value={a.max_tokens ?? ''}
        onChange={(e) => setA({ ...a, max_tokens: e.target.value === '' ? null : Number(e.target.value) })}
      />
      <TextField
        label="Max tool steps"
        type="number"
        min="1"
        max="100"
        value={a.max_steps ?? 10}
        onChange={(e) => setA({ ...a, max_steps: Number(e.target.value) })}
      />
    </>
  );
}

/** The skills and tools the assistant may use, and its sharing. */
function ToolFields({ a, setA, skills, isAdmin }: FieldsProps & { skills: Skill[]; isAdmin: boolean }) {
  const chosen = a.skills === 'all' ? null : (a.skills ?? []);
  return (
    <>
      <Switch
        label="All my skills"
        checked={a.skills === 'all'}
        onChange={(v) => setA({ ...a, skills: v ? 'all' : [] })}
      />
      {chosen && (
        <fieldset>
          <legend>Skills</legend>
          {skills.map((s) => (
            <label key={s.id} className="checkbox">
              <input
                type="checkbox"
                checked={chosen.includes(s.name)}
                onChange={(e) =>
                  setA({
                    ...a,
                    skills: e.target.checked ? [...chosen, s.name] : chosen.filter((n) => n !== s.name),
                  })
                }
              />{' '}
              {s.name}
            </label>
          ))}
        </fieldset>
      )}
      <Switch
        label="May run skill scripts (run_shell_command)"
        checked={a.run_scripts ?? false}
        onChange={(v) => setA({ ...a, run_scripts: v })}
      />
      <TextField
        label="Upstream MCP tools"
        hint="Comma-separated: server (all its tools) or server__tool"
        value={(a.upstream_tools ?? []).join(', ')}
        onChange={(e) =>
          setA({
            ...a,
            upstream_tools: e.target.value
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
          })
        }
      />
      {isAdmin && (
        <Switch
          label="Share with every user"
          checked={a.shared ?? false}
          onChange={(v) => setA({ ...a, shared: v })}
        />
      )}
    </>
  );
}

/** The caller's server-kept conversations (clients name one with X-Skillport-Session). */
function SessionsSection({ assistants }: { assistants: Assistant[] }) {
  const sessions = useAsync<ChatSession[]>(() => endpoints.sessions(), []);
  const nameOf = (id: string) => assistants.find((a) => a.id === id)?.name ?? 'deleted assistant';
  const remove = async (s: ChatSession) => {
    try {
      await endpoints.deleteSession(s.id);
      sessions.reload();
    } catch (err) {
      toast(errorMessage(err));
    }
  };
  return (
    <Card headingId="sessions-heading" title="Conversation sessions">
      <ListStates
        items={sessions.data}
        error={sessions.error}
        placeholder={<LoadingLines label="Loading sessions…" lines={2} height={36} />}
        empty={
          <p className="muted small">
            No sessions. Clients start one with the header X-Skillport-Session: new.
          </p>
        }
      >
        {(items) => (
          <ul className="share-list">
            {items.map((s) => (
              <li key={s.id}>
                <div className="share-info">
                  <strong>{s.title || '(untitled)'}</strong>
                  <span className="muted small">
                    {nameOf(s.assistant_id)} · {s.message_count} messages · {s.busy ? 'running · ' : ''}
                    {s.id}
                  </span>
                </div>
                <Button onClick={() => void remove(s)}>Delete</Button>
              </li>
            ))}
          </ul>
        )}
      </ListStates>
    </Card>
  );
}

function UsageLine({ id }: { id: string }) {
  const usage = useAsync(() => endpoints.assistantUsage(id), [id]);
  if (!usage.data) return null;
  const sum = usage.data.reduce(
    (n, u) => ({ r: n.r + u.requests, p: n.p + u.prompt_tokens, c: n.c + u.completion_tokens }),
    { r: 0, p: 0, c: 0 },
  );
  return (
    <span className="muted small">
      {sum.r} requests · {sum.p} prompt / {sum.c} completion tokens
    </span>
  );
}

export function AssistantsPage() {
  useDocumentTitle('Assistants');
  const data = useAsync(async () => {
    const [providers, assistants, skills] = await Promise.all([
      endpoints.providers(),
      endpoints.assistants(),
      endpoints.listSkills({ limit: 100 }).then((p) => p.items),
    ]);
    return { providers, assistants, skills };
  }, []);
  const [editing, setEditing] = useState<Assistant | 'new' | null>(null);
  const remove = async (a: Assistant) => {
    try {
      await endpoints.deleteAssistant(a.id);
      data.reload();
    } catch (err) {
      toast(errorMessage(err));
    }
  };
  return (
    <>
      <PageHeader
        title="Assistants"
        description="A model, a system prompt and your skills, callable from any OpenAI client at /v1 with an API key that may call assistants."
      />
      {data.error ? (
        <ErrorRetry error={data.error} onRetry={data.reload} />
      ) : !data.data ? (
        <LoadingLines label="Loading assistants…" lines={3} height={36} />
      ) : (
        <>
          <Card headingId="assistants-heading" title="Your assistants">
            {editing ? (
              <AssistantForm
                initial={editing === 'new' ? null : editing}
                providers={data.data.providers}
                skills={data.data.skills}
                onSaved={() => {
                  setEditing(null);
                  data.reload();
                }}
                onCancel={() => setEditing(null)}
              />
            ) : (
              <>
                <ListStates
                  items={data.data.assistants}
                  error={null}
                  placeholder={null}
                  empty={<EmptyState title="No assistants yet" />}
                >
                  {(items) => (
                    <ul className="share-list">
                      {items.map((a) => (
                        <li key={a.id}>
                          <div className="share-info">
                            <strong>{a.name}</strong>
                            <span className="muted small">
                              {a.model} · skills: {a.skills === 'all' ? 'all' : a.skills.join(', ') || 'none'}
                              {a.run_scripts ? ' · runs scripts' : ''}
                              {a.shared ? ' · shared' : ''}
                            </span>
                            <UsageLine id={a.id} />
                          </div>
                          <Link
                            to={`/assistants/${encodeURIComponent(a.name)}/chat`}
                            className="btn btn-secondary"
                          >
                            Chat
                          </Link>
                          {a.owned && <Button onClick={() => setEditing(a)}>Edit</Button>}
                          {a.owned && <Button onClick={() => void remove(a)}>Delete</Button>}
                        </li>
                      ))}
                    </ul>
                  )}
                </ListStates>
                <Button variant="primary" onClick={() => setEditing('new')}>
                  New assistant
                </Button>
              </>
            )}
          </Card>
          <SessionsSection assistants={data.data.assistants} />
          <ProvidersSection providers={data.data.providers} reload={data.reload} />
        </>
      )}
    </>
  );
}
