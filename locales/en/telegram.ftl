## Telegram: the command menu, and the bot's profile texts (setMyCommands, setMyDescription)

tg-command-start = Start, or redeem a giveaway code
tg-command-help = What I can do
tg-command-credits = Your credits and how to get more
tg-command-redeem = Use a giveaway code
tg-command-style = Choose background and size
tg-command-history = Your recent photos
tg-command-lang = English or Bengali
tg-command-privacy = How we handle your data
tg-command-delete = Delete your account and data
tg-command-optin = Allow your photos to improve our models
tg-command-optout = Withdraw that permission
tg-command-mydata = Download all your data
tg-command-support = Talk to a person

tg-description =
    Nexoraz turns a phone photo of your product into studio images: background removed, a clean white or styled backdrop, a soft shadow, and sizes for Facebook, Instagram and marketplaces.
    Press Start and send a photo. New accounts get free credits.

tg-short-description = Studio product photos from your phone: send a photo, get clean images for Facebook and marketplaces.
