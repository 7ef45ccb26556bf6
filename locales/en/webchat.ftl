## The web chat page

web-title = Nexoraz: studio photos in a chat
web-placeholder = Type a message, or send a photo of your product
web-send = Send
web-photo = Send a photo
web-offline = Connection lost. Reconnecting…
web-you = You
web-bot = Nexoraz
web-sending = Sending…
web-failed = Not sent. Tap to try again
web-gallery = My photos
web-download-all = Download all (zip)
web-close = Back to chat
web-gallery-empty = Your finished photos will appear here. Send a photo of your product to start.
web-other-lang = বাংলা
web-other-lang-code = bn
web-upload-too-large = That was too much at once: I can take up to { $limit } MB of photos in one message. Please send fewer photos at a time.
web-upload-too-many-parts = That message had too many parts: I can take up to { $limit } photos in one message. Please send fewer at a time.
web-cross-site = This request did not come from the Nexoraz chat page, so I did nothing. Please open the chat page and try again.
