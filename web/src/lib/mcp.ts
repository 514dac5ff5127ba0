/**
 * The server's upload warning for a skill that MCP `skills/list` leaves out starts with these words
 * (src/skills/package/skill-md.ts, MCP_UNLISTED_WARNING): its frontmatter breaks a rule the Skills-over-MCP
 * extension enforces, so MCP clients that list skills through it do not see the skill.
 */
const MCP_UNLISTED_WARNING = "MCP clients' skills/list will not show this skill";

export const mcpUnlistedWarning = (warnings: string[]): string | undefined =>
  warnings.find((w) => w.startsWith(MCP_UNLISTED_WARNING));
