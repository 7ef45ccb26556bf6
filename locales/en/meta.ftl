## WhatsApp and Messenger: labels the platforms show around our messages

# The button that opens a WhatsApp list of options (at most 20 characters).
meta-list-button = Options
# Messenger: the line above a further group of buttons when there are more than fit in one message.
meta-more-options = More options:
# Messenger's greeting on the welcome screen, before the person writes (at most 160 characters).
meta-greeting = Send a photo of your product and get studio images for Facebook, Instagram and marketplaces.
# Messenger's persistent menu (each at most 30 characters).
meta-menu-help = Help
meta-menu-credits = My credits
meta-menu-history = My photos
meta-menu-language = Language / ভাষা
