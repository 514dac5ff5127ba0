import { endpoints } from '../api/endpoints';
import type { Skill } from '../api/types';
import { Card, Switch } from '../components/ui';
import { useRowActions } from '../lib/hooks';

export function SettingsCard({
  skill,
  isAdmin,
  onChange,
}: {
  skill: Skill;
  isAdmin: boolean;
  onChange: (s: Skill) => void;
}) {
  const { busy, errors, run } = useRowActions();
  const own = skill.origin === 'own';

  const patch = (key: 'enabled' | 'run_commands_enabled' | 'shared' | 'hidden', value: boolean) =>
    run(key, async () => {
      onChange(await endpoints.updateSkill(skill.name, { [key]: value }));
    });

  return (
    <Card headingId="settings-heading" title="Settings">
      <div className="stack">
        {own ? (
          <>
            <Switch
              label="Enabled"
              description="Disabled skills are hidden from MCP clients."
              checked={skill.enabled}
              busy={busy === 'enabled'}
              error={errors.enabled}
              onChange={(v) => patch('enabled', v)}
            />
            <Switch
              label="Allow running commands"
              description="Lets MCP clients run this skill's scripts through the server."
              checked={skill.run_commands_enabled}
              busy={busy === 'run_commands_enabled'}
              error={errors.run_commands_enabled}
              onChange={(v) => patch('run_commands_enabled', v)}
            />
            {isAdmin && (
              <Switch
                label="Shared with all users"
                description="Every user on this server can use a shared skill."
                checked={skill.shared}
                busy={busy === 'shared'}
                error={errors.shared}
                onChange={(v) => patch('shared', v)}
              />
            )}
          </>
        ) : (
          <Switch
            label="Hide from my library"
            description="Hidden shared skills are not offered to your MCP clients."
            checked={skill.hidden}
            busy={busy === 'hidden'}
            error={errors.hidden}
            onChange={(v) => patch('hidden', v)}
          />
        )}
      </div>
    </Card>
  );
}
