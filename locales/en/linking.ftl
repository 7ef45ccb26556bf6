# One account across chats (/link, /unlink) and what an anonymous web visitor is told.
link-offer =
    🎁 Get { $credits ->
        [one] { $credits } free credit
       *[other] { $credits } free credits
    }: join this chat to your Telegram, WhatsApp or Messenger. Open one of these within { $minutes } minutes and press Start or Send:
link-code = To use one account (one balance, one history) in another chat, open one of these within { $minutes } minutes and press Start or Send:
link-channel = { $channel ->
        [telegram] Telegram
        [whatsapp] WhatsApp
        [messenger] Messenger
       *[web] web chat
    }
link-line = • { $channel }: { $url }
link-type = Or send this message in the other chat: link { $code }
link-no-platform = Send this message in your other chat with us within the time: link { $code }
link-hint = 🎁 New here? Send "link" to join your Telegram, WhatsApp or Messenger and get { $credits ->
        [one] { $credits } free credit
       *[other] { $credits } free credits
    }.
link-wrong = This link code is not valid or has expired. Send "link" in the other chat for a new one (codes work once, for 15 minutes).
link-same = This chat is already part of that account. Nothing changed.
link-too-many = Too many wrong link codes. Please wait an hour before trying again.
link-done = ✅ Joined. These chats now share one account: { $channels }. Your balance: { $balance }.
link-gift-once = The welcome gift comes once per person, so this chat's second gift ({ $credits }) was returned.
unlink-alone = This chat is not joined to any other. Nothing changed.
unlink-done = This chat is no longer joined to your account. Your credits and history stay with: { $channels }. Here you start again with no credits.
redeem-verify-first = Giveaway codes are for people who chat with us on Telegram, WhatsApp or Messenger.
web-too-many-visitors = Too many new visitors from your network right now. Please try again in an hour, or message us on Telegram, WhatsApp or Messenger.
command-link = Use one account in all your chats
command-unlink = Separate this chat from your account
command-link-argument = CODE
