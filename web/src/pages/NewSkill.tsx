import { PageHeader } from '../components/Layout';
import { SkillUploader } from '../components/SkillUploader';
import { toast } from '../components/Toaster';
import { Card } from '../components/ui';
import { useDocumentTitle } from '../lib/hooks';
import { navigate } from '../router';

export function NewSkillPage() {
  useDocumentTitle('Upload a skill');
  return (
    <>
      <PageHeader
        back={{ to: '/skills', label: 'Skills' }}
        title="Upload a skill"
        description="A skill is a folder with a SKILL.md (YAML front matter with a name and a description) plus any scripts and reference files it uses."
      />
      <Card headingId="upload-heading" title="Skill folder or archive">
        <SkillUploader
          onUploaded={(r) => {
            toast(`Uploaded ${r.skill.name} (version ${r.version.number})`);
            navigate(
              `/skills/${encodeURIComponent(r.skill.name)}${r.warnings.length ? '?uploaded=warnings' : ''}`,
            );
          }}
        />
      </Card>
      <Card headingId="layout-heading" title="Expected layout" className="muted-card">
        <pre className="tree-sample" tabIndex={0} role="region" aria-label="Example skill folder">{`my-skill/
├── SKILL.md          # required: front matter + instructions
├── scripts/          # optional: helpers the agent can run
│   └── extract.py
└── reference/        # optional: docs loaded on demand
    └── api.md`}</pre>
        <p className="muted small">
          To update an existing skill, open it and upload a new version — earlier versions stay available for
          rollback.
        </p>
      </Card>
    </>
  );
}
