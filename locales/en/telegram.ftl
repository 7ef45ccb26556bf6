## Telegram: the command menu, and the bot's profile texts (setMyCommands, setMyDescription)


tg-description =
    Nexoraz turns a phone photo of your product into studio images: background removed, a clean white or styled backdrop, a soft shadow, and sizes for Facebook, Instagram and marketplaces.
    Press Start and send a photo. New accounts get free credits.

tg-short-description = Studio product photos from your phone: send a photo, get clean images for Facebook and marketplaces.
