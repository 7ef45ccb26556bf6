"""What the conversation needs from the settings, without importing `bot` (imports point bot -> handlers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from storage.payments import Pack


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    signup_credits: int = 3
    web_visitor_credits: int = 0  # an anonymous web visitor's gift (Settings.web_gift)
    render_cost: int = 1
    max_pending_per_user: int = 20  # one seller's unfinished jobs (MAX_PENDING_PER_USER)
    max_queue_depth: int = 2000  # everyone's unfinished jobs: protects the machine (MAX_QUEUE_DEPTH)
    not_right_refunds_per_day: int = 3  # "not right?" refunds per user per UTC day
    support_email: str = "support@nexoraz.pro"
    support_whatsapp: str = ""
    facebook_page_url: str = ""
    upgrade_url: str = ""
    tutorial_video_url: str = ""
    privacy_url: str = ""
    policy_version: date = date(2025, 10, 15)
    retention_days_uploads: int = 30
    retention_days_outputs: int = 90
    identity_key: bytes = b"test-only-key"  # keyed hashes of identities and giveaway codes
    telegram_bot_username: str = ""
    whatsapp_display_number: str = ""
    facebook_page_id: str = ""
    packs: tuple[Pack, ...] = ()  # credit packs on sale (CREDIT_PACKS)
    public_base_url: str = ""  # where payment links point (the bKash checkout starts on this server)
    bkash_enabled: bool = False
