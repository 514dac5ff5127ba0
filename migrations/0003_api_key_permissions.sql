ALTER TABLE "api_tokens" ADD COLUMN "can_manage" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "can_call_assistant" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "can_use_mcp" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "can_admin" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "assistant_ids" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "restriction" jsonb;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "disabled_at" timestamp with time zone;--> statement-breakpoint
-- Data migration (hand-written): every existing token keeps the powers it has today. `mcp` → MCP use; `api` →
-- can_manage and can_admin, because an `api` token acted with all of its user's REST powers, admin ones included
-- whenever the user is (or becomes) an admin. The owner can take can_admin away on the Tokens page; keys made
-- through /api/v1/api-keys get it only when asked for.
UPDATE "api_tokens" SET
  "can_use_mcp" = 'mcp' = ANY("scopes"),
  "can_manage" = 'api' = ANY("scopes"),
  "can_admin" = 'api' = ANY("scopes");--> statement-breakpoint
ALTER TABLE "api_tokens" DROP COLUMN "scopes";