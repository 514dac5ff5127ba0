import type { tables } from '../db/index.js';

type UserRow = typeof tables.users.$inferSelect;

export interface UserView {
  id: string;
  email: string;
  username: string;
  is_admin: boolean;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export const toUserView = (u: UserRow): UserView => ({
  id: u.id,
  email: u.email,
  username: u.username,
  is_admin: u.isAdmin,
  disabled: u.disabledAt !== null,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
});
