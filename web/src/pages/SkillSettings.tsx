import { endpoints } from '../api/endpoints';
import type { Skill } from '../api/types';
import { Card, Switch } from '../components/ui';
import { useRowActions } from '../lib/hooks';

type SettingKey = 'enabled' | 'run_commands_enabled' | 'shared' | 'hidden';

const SETTINGS: Record<SettingKey, { label: string; description: string }> = {
  enabled: { label: 'Enabled', description: 'Disabled skills are hidden from MCP clients.' },
  run_commands_enabled: {
    label: 'Allow running commands',
    description: "Lets MCP clients run this skill's scripts through the server.",
  },
  shared: {
    label: 'Shared with all users',
    description: 'Every user on this server can use a shared skill.',
  },
  hidden: {
    label: 'Hide from my library',
    description: 'Hidden shared skills are not offered to your MCP clients.',
  },
};

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
  // Owners manage their skill; a shared skill's user can only hide it.
  const keys: SettingKey[] =
    skill.origin !== 'own'
      ? ['hidden']
      : isAdmin
        ? ['enabled', 'run_commands_enabled', 'shared']
        : ['enabled', 'run_commands_enabled'];

  const patch = (key: SettingKey, value: boolean) =>
    run(key, async () => {
      onChange(await endpoints.updateSkill(skill.name, { [key]: value }));
    });

  return (
    <Card headingId="settings-heading" title="Settings">
      <div className="stack">
        {keys.map((key) => (
          <Switch
            key={key}
            {...SETTINGS[key]}
            checked={skill[key]}
            busy={busy === key}
            error={errors[key]}
            onChange={(v) => patch(key, v)}
          />
        ))}
      </div>
    </Card>
  );
}
